//! The staff console seen from a test: staff accounts made the way an admin makes them (the
//! invite API, then the set-password form), and a cookie-keeping client for the console's
//! pages and forms. The browser tests (tests/browser) make their staff here too.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;

use super::TestApp;

/// A staff member who can sign in.
#[derive(Debug, Clone)]
pub struct Staff {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub password: String,
}

/// A browser-like client of the console: keeps cookies, follows no redirects.
pub struct ConsoleClient {
    base: String,
    client: reqwest::Client,
    cookies: Mutex<HashMap<String, String>>,
}

/// The `value` of the input named `name` in `html`, as maud writes it
/// (`name="…" value="…"`).
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let start = html.find(&format!("name=\"{name}\" value=\""))? + name.len() + 15;
    let rest = &html[start..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

impl ConsoleClient {
    pub fn new(app: &TestApp) -> Self {
        Self {
            base: app.address.clone(),
            client: app.client.clone(),
            cookies: Mutex::new(HashMap::new()),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    fn with_cookies(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let header = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        if header.is_empty() {
            builder
        } else {
            builder.header("cookie", header)
        }
    }

    fn keep(&self, res: &reqwest::Response) {
        for value in res.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            let mut jar = self.cookies.lock().unwrap();
            if v.is_empty() || text.contains("Max-Age=0") {
                jar.remove(k);
            } else {
                jar.insert(k.to_owned(), v.to_owned());
            }
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let res = self
            .with_cookies(self.client.get(format!("{}{path}", self.base)))
            .send()
            .await
            .expect("request sent");
        self.keep(&res);
        res
    }

    /// POSTs a url-encoded form, with `headers` added.
    pub async fn post_form_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut builder = self
            .with_cookies(self.client.post(format!("{}{path}", self.base)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                fields
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}={}",
                            url::form_urlencoded::byte_serialize(k.as_bytes()).collect::<String>(),
                            url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
            );
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let res = builder.send().await.expect("request sent");
        self.keep(&res);
        res
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.post_form_with(path, fields, &[]).await
    }

    /// The page at `path`, asserting 200, as text.
    pub async fn page(&self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status().as_u16(), 200, "GET {path}");
        res.text().await.unwrap()
    }

    /// Signs in through the form; returns the answer (303 on success).
    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        let form = self.page("/console/sign-in").await;
        let csrf = input_value(&form, "csrf").expect("the sign-in form has a token");
        self.post_form(
            "/console/sign-in",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("password", password),
                ("next", "/console"),
            ],
        )
        .await
    }

    /// The session's CSRF token, read from the board's sign-out form.
    pub async fn csrf(&self) -> String {
        input_value(&self.page("/console").await, "csrf").expect("a signed-in page has a token")
    }
}

/// The `location` header of a redirect.
pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

impl TestApp {
    /// Invites a new staff member through the API; returns the user id and the link.
    pub async fn invite(&self, role: &str, admin: bool, name: &str) -> (String, String, String) {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        let user = self
            .admin_post(
                "/v1/admin/users",
                json!({ "role": role, "name": name, "email": email }),
                201,
            )
            .await;
        let id = user["id"].as_str().unwrap().to_owned();
        let invite = self
            .admin_post(
                &format!("/v1/admin/users/{id}/invite"),
                json!({ "admin": admin }),
                201,
            )
            .await;
        let url = invite["url"].as_str().unwrap();
        let path = &url[url.find("/console/").unwrap()..];
        (id, email, path.to_owned())
    }

    /// A staff member with a password, made as an admin would: invited, then the link used.
    pub async fn staff(&self, role: &str, admin: bool, name: &str) -> Staff {
        let (user_id, email, link) = self.invite(role, admin, name).await;
        let password = format!("{} has a long password", name.to_lowercase());
        let console = ConsoleClient::new(self);
        let form = console.page(&link).await;
        let token = link.split("token=").nth(1).unwrap();
        let csrf = input_value(&form, "csrf").expect("the form has a token");
        let res = console
            .post_form(
                "/console/set-password",
                &[
                    ("csrf", &csrf),
                    ("token", token),
                    ("password", &password),
                    ("repeat", &password),
                ],
            )
            .await;
        assert_eq!(res.status().as_u16(), 303, "the password is set");
        Staff {
            user_id,
            name: name.to_owned(),
            email,
            password,
        }
    }

    /// A console client signed in as `staff`.
    pub async fn console_as(&self, staff: &Staff) -> ConsoleClient {
        let console = ConsoleClient::new(self);
        let res = console.sign_in(&staff.email, &staff.password).await;
        assert_eq!(res.status().as_u16(), 303, "{} signs in", staff.email);
        console
    }
}
