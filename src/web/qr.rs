//! An enrollment code as the phone app scans it: a small URI naming the gateway and the code,
//! drawn as a QR code in inline SVG (the `qrcode` crate's SVG renderer; no image crate, no
//! script, nothing fetched).
//!
//! The URI is `panicgateway://enroll?server=<gateway base URL>&code=<code>`, both values
//! percent-encoded. The app opens it, takes `server` as the base for
//! `POST /v1/devices/enroll` and sends `code` as that request's `code` (the form with the dash
//! is accepted, as a person would type it). A custom scheme rather than an `https` link: the
//! code must reach the app, never a browser (a web page opened from the QR code would put the
//! code in history and referrers). The text code beside the picture is for typing it in.

use maud::{html, Markup, PreEscaped};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The URI scheme the app registers.
pub const SCHEME: &str = "panicgateway";

/// What the QR code holds for `code` on the gateway at `server` (its public base URL).
pub fn enroll_uri(server: &str, code: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "{SCHEME}://enroll?server={}&code={}",
        enc(server),
        enc(code)
    )
}

/// `payload` as an inline SVG QR code, labelled `label` for screen readers. Medium error
/// correction: read from a laptop screen by a phone camera, it has no damage to survive, and
/// fewer modules keep it large.
pub fn svg(payload: &str, label: &str) -> Markup {
    let drawing = match QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M) {
        Ok(code) => code
            .render::<svg::Color>()
            .min_dimensions(240, 240)
            .dark_color(svg::Color("#000"))
            .light_color(svg::Color("#fff"))
            .build(),
        // Only a payload longer than a QR code holds (about 2 KB) fails; ours is ~100 bytes.
        Err(e) => return html! { p.error { "The QR code could not be drawn: " (e.to_string()) } },
    };
    // Inline in HTML: no XML declaration; a role and a name for assistive technology.
    let drawing = drawing
        .trim_start_matches(r#"<?xml version="1.0" standalone="yes"?>"#)
        .replacen("<svg ", "<svg role=\"img\" class=\"qr\" ", 1);
    html! { figure.qr-figure aria-label=(label) { (PreEscaped(drawing)) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uri_names_the_server_and_the_code_encoded() {
        assert_eq!(
            enroll_uri("https://pager.example.com/gw", "ABCDE-12345"),
            "panicgateway://enroll?server=https%3A%2F%2Fpager.example.com%2Fgw&code=ABCDE-12345"
        );
        let parsed = url::Url::parse(&enroll_uri("http://127.0.0.1:8080", "AB&CD")).unwrap();
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                ("server".into(), "http://127.0.0.1:8080".into()),
                ("code".into(), "AB&CD".into())
            ]
        );
        assert_eq!(
            (parsed.scheme(), parsed.host_str()),
            (SCHEME, Some("enroll"))
        );
    }

    #[test]
    fn the_svg_is_inline_and_labelled() {
        let out = svg(&enroll_uri("http://x", "ABCDE-12345"), "QR code").into_string();
        assert!(out.starts_with("<figure"), "{out}");
        assert!(out.contains("<svg role=\"img\" class=\"qr\" xmlns="));
        assert!(!out.contains("<?xml"));
        assert!(out.contains("<path fill=\"#000\" d=\"M"));
    }
}
