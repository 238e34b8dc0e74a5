//! A small live line plot drawn with egui's painter (no plotting crate):
//! enough for a ring's throughput, occupancy and latency over time.

use egui::{pos2, Color32, Rect, Sense, Shape, Stroke, Vec2};

/// Draws `values` (oldest first) in a `size` box, scaled to their maximum,
/// with a caption naming it and the latest value.
pub fn sparkline(ui: &mut egui::Ui, caption: &str, values: &[f64], unit: &str, size: Vec2) {
    ui.vertical(|ui| {
        let last = values.last().copied().unwrap_or(0.0);
        ui.label(format!("{caption}: {} {unit}", human(last)));
        let (resp, painter) = ui.allocate_painter(size, Sense::hover());
        let rect: Rect = resp.rect;
        painter.rect_stroke(
            rect,
            2.0,
            Stroke::new(1.0, ui.visuals().widgets.noninteractive.bg_stroke.color),
            egui::StrokeKind::Inside,
        );
        if values.len() < 2 {
            return;
        }
        // 10% headroom: a flat series stays off the frame's top edge.
        let max = values.iter().copied().fold(0.0f64, f64::max).max(1e-9) * 1.1;
        let n = values.len() - 1;
        let pts: Vec<egui::Pos2> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let x = rect.left() + rect.width() * i as f32 / n as f32;
                let y = rect.bottom() - 2.0 - (rect.height() - 4.0) * (*v / max) as f32;
                pos2(x, y)
            })
            .collect();
        painter.add(Shape::line(
            pts,
            Stroke::new(1.5, Color32::from_rgb(247, 147, 26)),
        ));
        resp.on_hover_text(format!("max {} {unit}", human(max / 1.1)));
    });
}

/// 1234567 → "1.23M".
pub fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
