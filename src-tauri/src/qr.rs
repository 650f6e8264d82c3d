//! The room link as a QR code, rendered to SVG here so the UI needs no
//! JavaScript QR library.

use qrcode::QrCode;
use qrcode::render::svg;

/// An SVG drawing of `text` as a QR code, or `None` if it is too long to encode.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color>()
            .min_dimensions(220, 220)
            .dark_color(svg::Color("#1b2030"))
            .light_color(svg::Color("#ffffff"))
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_room_link_renders_as_svg() {
        let link =
            "parlor://join/0123456789abcdef0123456789abcdef?server=ws%3A%2F%2F192.168.1.20%3A1999";
        let drawing = super::svg(link).unwrap_or_default();
        assert!(drawing.contains("<svg"), "{drawing}");
    }
}
