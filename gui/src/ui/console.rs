//! Console: RPC commands typed like in Core's debug console, run by the
//! node for the shown wallet, with history on the arrow keys.

use serde_json::Value;

use super::Ctx;
use crate::console::{self, EvalError, History};

/// One entry of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub kind: LineKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Command,
    Result,
    Error,
    Info,
}

pub const WELCOME: &str = "Welcome to the RPC console.\nUse up and down arrows to navigate history. Type help for an overview of available commands.\nNested calls and result paths work as in Core: getblock(getbestblockhash())[tx][0]\nWARNING: scammers ask users to type commands here to steal their wallet contents. Do not use this console without fully understanding what a command does.";

pub struct ConsoleScreen {
    pub input: String,
    pub lines: Vec<Line>,
    pub history: History,
    /// Commands sent and not answered yet.
    pending: Vec<u64>,
    next: u64,
    focus: bool,
}

impl Default for ConsoleScreen {
    fn default() -> Self {
        ConsoleScreen {
            input: String::new(),
            lines: vec![Line {
                text: WELCOME.into(),
                kind: LineKind::Info,
            }],
            history: History::default(),
            pending: Vec::new(),
            next: 1,
            focus: true,
        }
    }
}

impl ConsoleScreen {
    pub fn busy(&self) -> Option<String> {
        (!self.pending.is_empty()).then(|| "Running a console command…".to_string())
    }

    pub fn on_lost(&mut self) {
        self.pending.clear();
    }

    fn push(&mut self, text: impl Into<String>, kind: LineKind) {
        self.lines.push(Line {
            text: text.into(),
            kind,
        });
    }

    /// Runs the input line.
    pub fn submit(&mut self, ctx: &Ctx<'_>) {
        let line = std::mem::take(&mut self.input);
        let line = line.trim().to_string();
        if line.is_empty() {
            return;
        }
        self.history.push(&line);
        if line == "clear" {
            self.lines.clear();
            return;
        }
        self.push(line.clone(), LineKind::Command);
        match ctx.live() {
            Some(s) => {
                let id = self.next;
                self.next += 1;
                self.pending.push(id);
                s.console(id, ctx.model.wallet.as_deref(), &line);
            }
            None => self.push("The node is not connected.", LineKind::Error),
        }
    }

    /// A command's answer.
    pub fn output(&mut self, id: u64, r: Result<Value, EvalError>) {
        self.pending.retain(|p| *p != id);
        match r {
            Ok(v) => {
                let text = console::render(&v);
                if !text.is_empty() {
                    self.push(text, LineKind::Result);
                }
            }
            Err(e) => self.push(e.to_string(), LineKind::Error),
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui, ctx: &mut Ctx<'_>) {
        ui.horizontal(|ui| {
            ui.heading("RPC console");
            if let Some(w) = &ctx.model.wallet {
                ui.label(format!("(wallet: {w})"));
            }
            if ui.button("Clear console").clicked() {
                self.lines.clear();
            }
        });
        let input_height = 40.0;
        egui::ScrollArea::vertical()
            .id_salt("console-out")
            .max_height((ui.available_height() - input_height).max(60.0))
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show(ui, |ui| {
                for l in &self.lines {
                    let text = egui::RichText::new(match l.kind {
                        LineKind::Command => format!("> {}", l.text),
                        _ => l.text.clone(),
                    })
                    .monospace();
                    let text = match l.kind {
                        LineKind::Error => text.color(ui.visuals().error_fg_color),
                        LineKind::Command => text.strong(),
                        _ => text,
                    };
                    ui.add(egui::Label::new(text).selectable(true));
                }
                if !self.pending.is_empty() {
                    ui.spinner();
                }
            });
        ui.horizontal(|ui| {
            let l = ui.label("Command:");
            let id = egui::Id::unique("console-input");
            let r = ui
                .add(
                    egui::TextEdit::singleline(&mut self.input)
                        .id(id)
                        .hint_text("Type a command, e.g. getblockchaininfo")
                        .desired_width(ui.available_width() - 60.0)
                        .font(egui::TextStyle::Monospace),
                )
                .labelled_by(l.id);
            if self.focus {
                r.request_focus();
                self.focus = false;
            }
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if r.has_focus() {
                if ui.input(|i| i.key_pressed(egui::Key::ArrowUp)) {
                    if let Some(h) = self.history.up() {
                        self.input = h.to_string();
                    }
                } else if ui.input(|i| i.key_pressed(egui::Key::ArrowDown)) {
                    self.input = self.history.down().to_string();
                }
            }
            let run = ui.button("Run").clicked();
            if enter || run {
                self.submit(ctx);
                self.focus = true;
            }
        });
    }
}
