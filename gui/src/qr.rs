//! QR codes of payment requests, as images egui can show.

use qrcode::{Color, EcLevel, QrCode};

/// Modules of quiet zone around the code (the standard asks for 4).
const QUIET: usize = 4;

/// The QR code of `text` as a grey image, one pixel per module, with a
/// quiet zone; `None` if the text is too long for a QR code.
pub fn image(text: &str) -> Option<egui::ColorImage> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let w = code.width();
    let dark = code.to_colors();
    let side = w + 2 * QUIET;
    let mut px = vec![255u8; side * side];
    for y in 0..w {
        for x in 0..w {
            if dark[y * w + x] == Color::Dark {
                px[(y + QUIET) * side + x + QUIET] = 0;
            }
        }
    }
    Some(egui::ColorImage::from_gray([side, side], &px))
}

/// A BIP21 URI: `bitcoin:ADDRESS?amount=..&label=..&message=..`.
pub fn bip21(address: &str, amount_sats: Option<i64>, label: &str, message: &str) -> String {
    let mut q = Vec::new();
    if let Some(a) = amount_sats.filter(|a| *a > 0) {
        let s = crate::amount::format_plain(a);
        q.push(format!(
            "amount={}",
            s.trim_end_matches('0').trim_end_matches('.')
        ));
    }
    if !label.is_empty() {
        q.push(format!("label={}", percent(label)));
    }
    if !message.is_empty() {
        q.push(format!("message={}", percent(message)));
    }
    if q.is_empty() {
        format!("bitcoin:{address}")
    } else {
        format!("bitcoin:{address}?{}", q.join("&"))
    }
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_a_code_and_a_uri() {
        let img = image("bitcoin:bcrt1qtest").unwrap();
        assert_eq!(img.size[0], img.size[1]);
        assert!(img.size[0] >= 21 + 2 * QUIET);
        // The quiet zone is white, the finder pattern's corner dark.
        assert_eq!(img.pixels[0], egui::Color32::WHITE);
        assert_eq!(
            img.pixels[QUIET * img.size[0] + QUIET],
            egui::Color32::BLACK
        );
        assert_eq!(
            bip21("bc1qx", Some(150_000_000), "rent & food", ""),
            "bitcoin:bc1qx?amount=1.5&label=rent%20%26%20food"
        );
        assert_eq!(
            bip21("bc1qx", Some(100_000_000), "", ""),
            "bitcoin:bc1qx?amount=1"
        );
        assert_eq!(bip21("bc1qx", None, "", ""), "bitcoin:bc1qx");
        assert!(image(&"x".repeat(5000)).is_none());
    }
}
