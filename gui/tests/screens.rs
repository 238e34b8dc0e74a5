//! Headless tests of every screen with egui_kittest: widgets are found by
//! their labels, flows are driven by clicks and typing, and the window
//! talks to a [`FakeNode`] through the same workers as to a real one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use btc_gui::app::{AppConfig, Closing, GuiApp};
use btc_gui::backend::Connector;
use btc_gui::fake::{FakeNode, FAKE_FEE};
use btc_gui::model::Phase;
use btc_gui::ui::send::Stage;
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;

const COIN: i64 = 100_000_000;
/// A mainnet address: valid, but for another network than regtest.
const MAINNET: &str = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";

type H = Harness<'static, GuiApp>;

fn harness_with(connector: Arc<dyn Connector>, wallets: &[&str], quit: Arc<AtomicBool>) -> H {
    let wallets = wallets.iter().map(|w| w.to_string()).collect();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1100.0, 900.0))
        .build_eframe(move |cc| {
            GuiApp::new(
                &cc.egui_ctx,
                AppConfig {
                    connector,
                    chain: "regtest".into(),
                    wallets,
                    quit,
                },
            )
        });
    h.step();
    h
}

/// A window on `node`, once connected.
fn harness(node: &FakeNode) -> H {
    let mut h = harness_with(node.connector(), &[], Arc::new(AtomicBool::new(false)));
    settle(&mut h, "connected", |h| h.state().model.connected());
    h
}

/// Steps frames until `cond` holds (the workers answer on their threads).
#[track_caller]
fn settle(h: &mut H, what: &str, cond: impl Fn(&H) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        h.step();
        if cond(h) {
            h.step();
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Whether a widget is named `text` (buttons, fields) or shows it (labels).
fn shows(h: &H, text: &str) -> bool {
    let t = text.to_string();
    h.query_all_by(move |n| n.label().as_deref() == Some(&*t) || n.value().as_deref() == Some(&*t))
        .next()
        .is_some()
}

/// Whether a widget's name or text contains `text`.
fn shows_part(h: &H, text: &str) -> bool {
    let t = text.to_string();
    h.query_all_by(move |n| {
        n.label().is_some_and(|l| l.contains(&*t)) || n.value().is_some_and(|v| v.contains(&*t))
    })
    .next()
    .is_some()
}

#[track_caller]
fn wait_for_text(h: &mut H, text: &str) {
    let t = text.to_string();
    settle(h, text, move |h| shows(h, &t));
}

#[track_caller]
fn wait_for_part(h: &mut H, text: &str) {
    let t = text.to_string();
    settle(h, text, move |h| shows_part(h, &t));
}

/// Clicks the widget named `label` (after a frame, so its place is the
/// one of a settled layout).
fn click(h: &mut H, label: &str) {
    h.step();
    h.get_by_label(label).click();
    h.step();
    h.step();
}

fn type_into(h: &mut H, label: &str, text: &str) {
    h.get_by_label(label).focus();
    h.step();
    h.get_by_label(label).type_text(text);
    h.step();
}

fn tab(h: &mut H, name: &str) {
    click(h, name);
}

/// A node with wallet `alice` holding 50 BTC spendable and 5000 immature.
fn funded() -> (FakeNode, String) {
    let node = FakeNode::new("regtest");
    node.add_wallet("alice", None, true);
    let addr = node.new_address("alice", "mining");
    node.mine(101, &addr);
    (node, addr)
}

fn ready(node: &FakeNode) -> H {
    let mut h = harness(node);
    settle(&mut h, "the wallet's balances", |h| {
        h.state().model.balances.is_some()
    });
    h
}

// ---- Overview -----------------------------------------------------------

#[test]
fn overview_shows_balances_and_follows_notifications_without_user_action() {
    let (node, addr) = funded();
    let mut h = ready(&node);
    assert!(shows(&h, "Available:"));
    assert!(shows(&h, "50.00000000 BTC"), "trusted");
    assert!(shows(&h, "5000.00000000 BTC"), "immature");
    wait_for_text(&mut h, "Mined"); // recent transactions list the coinbases
    h.check_accessibility();

    // A payment arrives: the node pushes WalletChanged; nothing is clicked.
    let calls_before = node.calls().len();
    node.receive(&addr, COIN / 4);
    wait_for_text(&mut h, "0.25000000 BTC");
    assert!(shows(&h, "Received with"));
    // It took a couple of RPCs, not a poll loop.
    let made: Vec<String> = node.calls()[calls_before..]
        .iter()
        .map(|c| c.1.clone())
        .collect();
    assert!(made.contains(&"getbalances".to_string()), "{made:?}");
    assert!(
        made.len() <= 6,
        "one refresh per notification burst: {made:?}"
    );

    // A block: the payment confirms and the pending balance moves.
    node.mine(1, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080");
    settle(&mut h, "confirmation", |h| {
        h.state()
            .model
            .balances
            .is_some_and(|b| b.pending == 0 && b.trusted == 100 * COIN + COIN / 4)
    });
    assert_eq!(h.state().model.chain.as_ref().unwrap().blocks, 102);
}

#[test]
fn no_timer_polls_the_node_while_nothing_happens() {
    let (node, _) = funded();
    let mut h = ready(&node);
    let before = node.calls().len();
    for _ in 0..50 {
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(node.calls().len(), before, "{:?}", &node.calls()[before..]);
}

// ---- First run wizard -----------------------------------------------------

#[test]
fn wizard_creates_an_encrypted_wallet_and_refuses_bad_input() {
    let node = FakeNode::new("regtest");
    let mut h = harness(&node);
    wait_for_text(&mut h, "Create a new wallet");
    h.check_accessibility();

    // No name.
    click(&mut h, "Create wallet");
    assert!(shows(&h, "Enter a wallet name."));
    // Passphrases that differ.
    type_into(&mut h, "Wallet name:", "savings");
    type_into(&mut h, "Passphrase (optional):", "correct horse");
    type_into(&mut h, "Repeat passphrase:", "correct hose");
    click(&mut h, "Create wallet");
    assert!(shows(&h, "The passphrases do not match."));
    assert!(!node.calls().iter().any(|c| c.1 == "createwallet"));

    h.state_mut().screens.wizard.repeat = "correct horse".into();
    click(&mut h, "Create wallet");
    settle(&mut h, "the new wallet", |h| {
        h.state().model.wallet.as_deref() == Some("savings")
    });
    wait_for_text(&mut h, "Balances");
    settle(&mut h, "wallet info", |h| {
        h.state().model.wallet_info.is_some()
    });
    let info = h.state().model.wallet_info.clone().unwrap();
    assert!(info.encrypted() && info.locked(), "{info:?}");

    // Creating it again is refused by the node, and the message shown.
    click(&mut h, "Open or create wallet…");
    wait_for_text(&mut h, "Create a new wallet");
    type_into(&mut h, "Wallet name:", "savings");
    click(&mut h, "Create wallet");
    wait_for_part(&mut h, "Database already exists.");
}

#[test]
fn wizard_opens_a_wallet_from_disk_and_reports_a_missing_one() {
    let node = FakeNode::new("regtest");
    node.add_wallet("bob", None, false);
    let mut h = harness(&node);
    wait_for_text(&mut h, "Open bob");

    type_into(&mut h, "Wallet to open:", "nobody");
    click(&mut h, "Open wallet");
    wait_for_part(&mut h, "Path does not exist.");
    assert_eq!(h.state().model.wallet, None);

    click(&mut h, "Open bob");
    settle(&mut h, "bob shown", |h| {
        h.state().model.wallet.as_deref() == Some("bob")
    });
    wait_for_text(&mut h, "Balances");
}

#[test]
fn a_wallet_loaded_elsewhere_is_shown_once_the_node_mentions_it() {
    // The wizard is up (no wallet); a wallet is loaded over RPC, and the
    // node's first word about it is a WalletChanged (a block paying it).
    let node = FakeNode::new("regtest");
    let mut h = harness(&node);
    wait_for_text(&mut h, "Create a new wallet");
    node.add_wallet("erin", None, true);
    let addr = node.new_address("erin", "");
    node.mine(1, &addr);
    settle(&mut h, "erin shown", |h| {
        h.state().model.wallet.as_deref() == Some("erin")
    });
    settle(&mut h, "erin's coinbase", |h| {
        h.state()
            .model
            .balances
            .is_some_and(|b| b.immature == 50 * COIN)
    });
}

#[test]
fn a_wallet_named_on_the_command_line_is_loaded_when_attached() {
    let node = FakeNode::new("regtest");
    node.add_wallet("carol", None, false);
    node.add_wallet("dave", None, true);
    let mut h = harness_with(
        node.attach_connector(),
        &["carol"],
        Arc::new(AtomicBool::new(false)),
    );
    settle(&mut h, "carol shown", |h| {
        h.state().model.wallet.as_deref() == Some("carol")
    });
    assert!(node.calls().iter().any(|c| c.1 == "loadwallet"));
}

// ---- Send -------------------------------------------------------------------

fn send_form(h: &mut H, address: &str, amount: &str) {
    tab(h, "Send");
    type_into(h, "Pay to:", address);
    if !amount.is_empty() {
        type_into(h, "Amount:", amount);
    }
}

#[test]
fn send_refuses_invalid_addresses_and_other_networks() {
    let (node, _) = funded();
    let mut h = ready(&node);
    send_form(&mut h, "bcrt1qnotanaddress", "1");
    click(&mut h, "Send…");
    assert!(shows(&h, "The recipient address is not valid."));

    h.state_mut().screens.send.address = MAINNET.into();
    click(&mut h, "Send…");
    assert!(shows(
        &h,
        "This address is for another network than regtest."
    ));
    assert!(!node
        .calls()
        .iter()
        .any(|c| c.1.contains("send") || c.1 == "walletcreatefundedpsbt"));
    h.check_accessibility();
}

#[test]
fn send_refuses_an_amount_over_the_balance() {
    let (node, _) = funded();
    let mut h = ready(&node);
    let to = node.new_address("alice", "");
    send_form(&mut h, &to, "50.00000001");
    click(&mut h, "Send…");
    assert!(shows(&h, "The amount exceeds your balance."));
    assert!(!node.calls().iter().any(|c| c.1 == "walletcreatefundedpsbt"));

    // Exactly the balance passes the GUI's check; the wallet then finds the
    // fee missing and says so.
    h.state_mut().screens.send.amount = "50".into();
    click(&mut h, "Send…");
    wait_for_text(
        &mut h,
        "The total exceeds your balance when the transaction fee is included.",
    );

    for bad in ["0", "abc", "1.123456789"] {
        h.state_mut().screens.send.amount = bad.into();
        click(&mut h, "Send…");
        assert!(
            shows(&h, "The amount to pay must be larger than 0.")
                || shows(&h, "Enter an amount in BTC, with at most 8 decimals."),
            "{bad}"
        );
    }
}

#[test]
fn send_asks_for_confirmation_with_the_fee_and_sends() {
    let (node, _) = funded();
    node.add_wallet("bob", None, true);
    let to = node.new_address("bob", "");
    let mut h = ready(&node);
    send_form(&mut h, &to, "1.5");
    type_into(&mut h, "Label:", "Bob");
    click(&mut h, "Replace-by-fee (BIP-125)");
    click(&mut h, "Send…");
    wait_for_text(&mut h, "Confirm send coins");
    assert!(shows(&h, "0.00001410 BTC"), "fee from the wallet");
    assert!(shows(&h, "1.50001410 BTC"), "total");
    assert!(shows(&h, "no"), "replace-by-fee off");

    // Cancel keeps the form.
    click(&mut h, "Cancel");
    assert_eq!(h.state().screens.send.stage, Stage::Editing);
    assert!(!node.calls().iter().any(|c| c.1 == "send"));

    click(&mut h, "Send…");
    wait_for_text(&mut h, "Confirm send coins");
    click(&mut h, "Confirm send");
    wait_for_text(&mut h, "Transaction sent.");
    settle(&mut h, "the new balance (pushed)", |h| {
        h.state()
            .model
            .balances
            .is_some_and(|b| b.trusted == 50 * COIN - 3 * COIN / 2 - FAKE_FEE)
    });
    assert_eq!(node.balance("bob").1, 3 * COIN / 2, "bob's pending");
    settle(&mut h, "the label saved", |_| {
        node.calls().iter().any(|c| c.1 == "setlabel")
    });
    tab(&mut h, "Overview");
    wait_for_text(&mut h, "Sent to");
}

#[test]
fn use_available_balance_sends_everything_minus_the_fee() {
    let (node, _) = funded();
    let to = node.new_address("alice", "");
    let mut h = ready(&node);
    send_form(&mut h, &to, "");
    click(&mut h, "Use available balance");
    assert_eq!(h.state().screens.send.amount, "50.00000000");
    click(&mut h, "Custom fee rate");
    type_into(&mut h, "Fee rate:", "2.5");
    click(&mut h, "Send…");
    wait_for_text(&mut h, "Confirm send coins");
    assert!(shows(&h, "The fee will be deducted from the amount sent."));
    assert!(shows(&h, "2.5 sat/vB"));
    click(&mut h, "Confirm send");
    wait_for_text(&mut h, "Transaction sent.");
    settle(&mut h, "all spent", |h| {
        h.state().model.balances.is_some_and(|b| b.trusted == 0)
    });
}

#[test]
fn a_bad_fee_rate_is_refused() {
    let (node, _) = funded();
    let to = node.new_address("alice", "");
    let mut h = ready(&node);
    send_form(&mut h, &to, "1");
    click(&mut h, "Custom fee rate");
    type_into(&mut h, "Fee rate:", "-1");
    click(&mut h, "Send…");
    assert!(shows(&h, "Enter a fee rate in sat/vB, e.g. 2.5."));
}

#[test]
fn an_encrypted_wallet_asks_for_its_passphrase_and_refuses_a_wrong_one() {
    let node = FakeNode::new("regtest");
    node.add_wallet("vault", Some("s3cret"), true);
    let addr = node.new_address("vault", "");
    node.mine(101, &addr);
    let mut h = ready(&node);
    settle(&mut h, "lock state", |h| {
        h.state().model.wallet_info.is_some()
    });
    send_form(&mut h, &addr, "1");
    click(&mut h, "Send…");
    wait_for_text(&mut h, "Confirm send coins");
    click(&mut h, "Confirm send");
    wait_for_text(&mut h, "Unlock wallet");
    h.check_accessibility();

    type_into(&mut h, "Passphrase:", "guess");
    click(&mut h, "Unlock");
    wait_for_text(
        &mut h,
        "The passphrase entered for the wallet decryption was incorrect.",
    );
    assert!(!node.calls().iter().any(|c| c.1 == "send"));
    assert!(
        h.state().screens.send.passphrase.is_empty(),
        "a passphrase is not kept"
    );

    type_into(&mut h, "Passphrase:", "s3cret");
    click(&mut h, "Unlock");
    wait_for_text(&mut h, "Transaction sent.");
    settle(&mut h, "relocked after the send", |_| {
        !node.unlocked("vault")
    });
}

#[test]
fn a_locked_wallet_unknown_to_the_gui_is_unlocked_when_the_node_asks() {
    // The GUI thinks the wallet is unlocked (stale info); the node answers
    // -13 and the prompt appears anyway.
    let node = FakeNode::new("regtest");
    node.add_wallet("vault", Some("pw"), true);
    let addr = node.new_address("vault", "");
    node.mine(101, &addr);
    let mut h = ready(&node);
    settle(&mut h, "lock state", |h| {
        h.state().model.wallet_info.is_some()
    });
    h.state_mut().model.wallet_info = None;
    send_form(&mut h, &addr, "1");
    click(&mut h, "Send…");
    wait_for_text(&mut h, "Confirm send coins");
    click(&mut h, "Confirm send");
    wait_for_text(&mut h, "Unlock wallet");
    type_into(&mut h, "Passphrase:", "pw");
    click(&mut h, "Unlock");
    wait_for_text(&mut h, "Transaction sent.");
}

#[test]
fn a_slow_send_shows_progress_and_never_blocks_the_window() {
    let (node, _) = funded();
    let to = node.new_address("alice", "");
    let mut h = ready(&node);
    send_form(&mut h, &to, "1");
    node.set_delay(Duration::from_millis(400));
    let t = Instant::now();
    click(&mut h, "Send…");
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "a frame waited for the node"
    );
    assert!(shows(&h, "Preparing the transaction…"));
    wait_for_text(&mut h, "Confirm send coins");
    let t = Instant::now();
    click(&mut h, "Confirm send");
    assert!(t.elapsed() < Duration::from_millis(200));
    assert!(shows(&h, "Sending…"));
    wait_for_text(&mut h, "Transaction sent.");
}

// ---- Receive ------------------------------------------------------------------

#[test]
fn receive_makes_an_address_with_label_qr_code_and_clipboard_copy() {
    let (node, _) = funded();
    let mut h = ready(&node);
    tab(&mut h, "Receive");
    h.check_accessibility();
    type_into(&mut h, "Amount:", "abc");
    click(&mut h, "Create new receiving address");
    assert!(shows(&h, "Enter an amount in BTC, or leave it empty."));

    h.state_mut().screens.receive.amount.clear();
    type_into(&mut h, "Label:", "rent");
    type_into(&mut h, "Amount:", "0.5");
    type_into(&mut h, "Message:", "May");
    click(&mut h, "Create new receiving address");
    settle(&mut h, "the new address", |h| {
        h.state().screens.receive.current().is_some()
    });
    let req = h.state().screens.receive.current().cloned().unwrap();
    assert!(req.address.starts_with("bcrt1"), "{req:?}");
    let uri = format!("bitcoin:{}?amount=0.5&label=rent&message=May", req.address);
    assert_eq!(req.uri(), uri);
    assert!(shows(&h, &req.address));
    assert!(shows(&h, &format!("QR code of {uri}")), "the QR image");
    assert!(node.calls().iter().any(|c| c.1 == "getnewaddress"));

    h.get_by_label("Copy URI").click();
    h.step();
    let copied = h
        .output()
        .platform_output
        .commands
        .iter()
        .any(|c| matches!(c, egui::OutputCommand::CopyText(t) if *t == uri));
    assert!(copied, "{:?}", h.output().platform_output.commands);
    assert!(shows(&h, "Copied to clipboard."));

    // A second request; the list keeps both and shows the first again.
    type_into(&mut h, "Label:", "gift");
    click(&mut h, "Create new receiving address");
    settle(&mut h, "two requests", |h| {
        h.state()
            .screens
            .receive
            .requests
            .get("alice")
            .is_some_and(|l| l.len() == 2)
    });
    click(&mut h, "rent");
    assert_eq!(
        h.state().screens.receive.current().unwrap().address,
        req.address
    );
}

// ---- Transactions ---------------------------------------------------------------

#[test]
fn transactions_sort_filter_and_show_details() {
    let (node, addr) = funded();
    node.add_wallet("bob", None, true);
    let bob = node.new_address("bob", "");
    node.receive(&addr, 2 * COIN);
    let mut h = ready(&node);
    // A send too.
    send_form(&mut h, &bob, "3");
    click(&mut h, "Send…");
    wait_for_text(&mut h, "Confirm send coins");
    click(&mut h, "Confirm send");
    wait_for_text(&mut h, "Transaction sent.");
    settle(&mut h, "the send listed", |h| {
        h.state().model.txs.iter().any(|t| t.category == "send")
    });

    tab(&mut h, "Transactions");
    h.check_accessibility();
    let total = h.state().model.txs.len();
    assert_eq!(total, 103);
    assert!(shows(&h, &format!("{total} of {total} transactions")));

    // Filter by type.
    click(&mut h, "Type:");
    click(&mut h, "Sent");
    wait_for_text(&mut h, &format!("1 of {total} transactions"));
    assert!(shows(&h, "-3.00000000 BTC"));

    // Back to all, then search by label.
    h.state_mut().screens.transactions.type_filter = Default::default();
    type_into(&mut h, "Search:", "minin");
    wait_for_text(&mut h, &format!("102 of {total} transactions"));
    h.state_mut().screens.transactions.search.clear();
    h.step();

    // Sort by amount, largest first, then smallest first.
    click(&mut h, "Amount");
    {
        let s = &h.state().screens.transactions;
        let rows = s.rows(&h.state().model.txs);
        assert_eq!(rows[0].amount, 50 * COIN);
        assert_eq!(rows.last().unwrap().amount, -3 * COIN);
    }
    click(&mut h, "Amount");
    {
        let s = &h.state().screens.transactions;
        assert_eq!(s.rows(&h.state().model.txs)[0].amount, -3 * COIN);
    }

    // Details of the send.
    click(&mut h, "-3.00000000 BTC");
    wait_for_text(&mut h, "Transaction details");
    let txid = h
        .state()
        .screens
        .transactions
        .selected
        .clone()
        .unwrap()
        .txid;
    assert!(shows(&h, &txid));
    assert!(shows(&h, "Unconfirmed"));
    wait_for_text(&mut h, "Size:");
    assert!(node.calls().iter().any(|c| c.1 == "gettransaction"));
    click(&mut h, "Close details");
    assert!(!shows(&h, "Transaction details"));
}

// ---- Node -------------------------------------------------------------------------

#[test]
fn node_screen_shows_chain_mempool_and_live_ipc_statistics() {
    let (node, addr) = funded();
    let mut h = ready(&node);
    tab(&mut h, "Node");
    wait_for_text(&mut h, "regtest");
    assert!(shows(&h, "101"), "blocks");
    assert!(shows(&h, "IPC statistics"));
    wait_for_text(&mut h, "events");
    assert!(shows(&h, "Ring ui"));
    assert!(shows(&h, "12 µs"), "p50 from getipcinfo");
    assert!(shows(&h, "Sync progress:"));
    h.check_accessibility();
    let samples = |h: &H| {
        h.state()
            .model
            .ring_history
            .get("events")
            .map_or(0, |r| r.samples.len())
    };
    let before = samples(&h);

    node.mine(1, &addr);
    wait_for_text(&mut h, "102");
    node.receive(&addr, COIN);
    wait_for_text(&mut h, "1 transactions (141 bytes)");
    settle(&mut h, "new plot points", |h| samples(h) >= before + 2);
    let hist = &h.state().model.ring_history["events"];
    assert!(
        hist.samples.iter().any(|s| s.records_per_s > 0.0),
        "throughput plotted"
    );
    assert!(shows_part(&h, "Notify p99:"));
    assert!(h.state().model.notifications >= 2);
    assert!(shows_part(&h, "p50 42 µs"), "latency measured by the GUI");
}

#[test]
fn node_screen_copes_with_a_node_without_ipc_statistics() {
    let (node, _) = funded();
    node.set_ipc_info(false);
    let mut h = ready(&node);
    tab(&mut h, "Node");
    wait_for_text(
        &mut h,
        "The node does not report IPC statistics (no getipcinfo).",
    );
}

// ---- Console ------------------------------------------------------------------------

fn run_command(h: &mut H, line: &str) {
    type_into(h, "Command:", line);
    h.key_press(egui::Key::Enter);
    h.step();
    h.step();
}

#[test]
fn console_runs_commands_with_history_and_shows_errors() {
    let (node, _) = funded();
    let mut h = ready(&node);
    tab(&mut h, "Console");
    h.check_accessibility();
    run_command(&mut h, "getblockcount");
    wait_for_text(&mut h, "101");
    run_command(&mut h, "getbalances()[mine][trusted]");
    wait_for_text(&mut h, "50.00000000");
    run_command(&mut h, "nosuchmethod 1");
    wait_for_text(&mut h, "Method not found (code -32601)");
    run_command(&mut h, "getblock(1");
    wait_for_text(&mut h, "Parse error: unbalanced ( or )");
    run_command(&mut h, r#"walletpassphrase "x" 10"#);
    wait_for_part(&mut h, "unencrypted wallet");

    // History: up brings back the last command, again the one before.
    h.get_by_label("Command:").focus();
    h.step();
    h.key_press(egui::Key::ArrowUp);
    h.step();
    assert_eq!(
        h.state().screens.console.input,
        r#"walletpassphrase "x" 10"#
    );
    h.key_press(egui::Key::ArrowUp);
    h.step();
    assert_eq!(h.state().screens.console.input, "getblock(1");
    h.key_press(egui::Key::ArrowDown);
    h.step();
    assert_eq!(
        h.state().screens.console.input,
        r#"walletpassphrase "x" 10"#
    );

    h.state_mut().screens.console.input.clear();
    run_command(&mut h, "clear");
    assert!(!shows(&h, "101"));
    // Wallet commands go to the shown wallet.
    assert!(node
        .calls()
        .iter()
        .any(|c| c.0.as_deref() == Some("alice") && c.1 == "getbalances"));
}

#[test]
fn a_wallet_loaded_from_the_console_joins_the_wallet_list() {
    let (node, _) = funded();
    node.add_wallet("bob", None, false);
    let mut h = ready(&node);
    tab(&mut h, "Console");
    run_command(&mut h, "loadwallet bob");
    settle(&mut h, "bob listed", |h| {
        h.state().model.wallets.contains(&"bob".to_string())
    });
    assert_eq!(
        h.state().model.wallet.as_deref(),
        Some("alice"),
        "the shown wallet stays"
    );
}

// ---- Rescan progress -----------------------------------------------------------------------

/// The rescan progress bars shown: (text, percent).
fn scan_bars(h: &H) -> Vec<(String, f64)> {
    h.query_all_by(|n| {
        n.role() == Role::ProgressIndicator
            && n.label().is_some_and(|l| l.starts_with("Rescanning"))
    })
    .map(|n| {
        let a = n.accesskit_node();
        (
            a.label().unwrap_or_default(),
            a.numeric_value().unwrap_or(-1.0),
        )
    })
    .collect()
}

/// Steps frames until a rescan bar of `wallet` shows more than `above`
/// percent; returns that percent. Every frame must be quick: the rescan
/// runs on a worker, and its progress is asked for on another.
#[track_caller]
fn wait_for_scan_above(h: &mut H, wallet: &str, above: f64) -> f64 {
    let prefix = format!("Rescanning wallet {wallet}: ");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = Instant::now();
        h.step();
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "a frame waited for the node"
        );
        if let Some(p) = scan_bars(h)
            .into_iter()
            .filter(|(l, _)| l.starts_with(&prefix))
            .map(|(_, p)| p)
            .find(|p| *p > above)
        {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "no rescan progress of {wallet} above {above}%: {:?}",
            scan_bars(h)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_console_rescan_shows_its_progress_and_never_blocks_the_window() {
    let (node, _) = funded();
    let mut h = ready(&node);
    tab(&mut h, "Console");
    node.set_rescan(Duration::from_millis(2300));
    run_command(&mut h, "rescanblockchain");
    assert!(shows(&h, "Running a console command…"));
    // Asked once a second while it runs: ~43% after 1 s, ~87% after 2 s.
    let first = wait_for_scan_above(&mut h, "alice", 0.0);
    assert!(h.state().model.scan.is_some());
    let second = wait_for_scan_above(&mut h, "alice", first);
    assert!(second > first, "{first} → {second}");
    // The answer, then no bar.
    wait_for_part(&mut h, "\"stop_height\": 101");
    settle(&mut h, "the bar gone", |h| scan_bars(h).is_empty());
    assert_eq!(h.state().model.scan, None);
    let polls = node
        .calls()
        .iter()
        .filter(|c| c.0.as_deref() == Some("alice") && c.1 == "getwalletinfo")
        .count();
    assert!((2..=6).contains(&polls), "{polls} getwalletinfo calls");

    // A quick call that may rescan ends before the first question: no bar.
    node.set_rescan(Duration::ZERO);
    run_command(&mut h, "rescanblockchain");
    settle(&mut h, "the answer", |h| {
        h.state().screens.console.busy().is_none()
    });
    assert!(scan_bars(&h).is_empty());
    assert_eq!(h.state().model.scan, None);
}

#[test]
fn loading_a_wallet_from_the_wizard_shows_its_rescans_progress() {
    let node = FakeNode::new("regtest");
    node.add_wallet("bob", None, false);
    let mut h = harness(&node);
    wait_for_text(&mut h, "Open bob");
    node.set_rescan(Duration::from_millis(2300));
    click(&mut h, "Open bob");
    assert!(shows(&h, "Opening wallet bob…"));
    // Asked of the wallet being loaded (not in listwallets yet).
    let first = wait_for_scan_above(&mut h, "bob", 0.0);
    assert!(
        scan_bars(&h).len() >= 2,
        "in the wizard and the status bar: {:?}",
        scan_bars(&h)
    );
    wait_for_scan_above(&mut h, "bob", first);
    settle(&mut h, "bob shown", |h| {
        h.state().model.wallet.as_deref() == Some("bob")
    });
    settle(&mut h, "the bar gone", |h| scan_bars(h).is_empty());
    assert!(node
        .calls()
        .iter()
        .any(|c| c.0.as_deref() == Some("bob") && c.1 == "getwalletinfo"));
}

// ---- Attaching with an IPC secret ----------------------------------------------------------

#[test]
fn an_unreadable_ipc_cookie_file_is_a_clear_error_in_the_window() {
    let missing = std::env::temp_dir().join(format!("gui-no-cookie-{}", std::process::id()));
    let connector = Arc::new(
        btc_gui::ipc::AttachConnector::new("tcp:127.0.0.1:9", "regtest")
            .with_cookie_file(Some(missing.clone())),
    );
    let mut h = harness_with(connector, &[], Arc::new(AtomicBool::new(false)));
    wait_for_text(&mut h, "Could not connect to the node");
    assert!(shows_part(
        &h,
        &format!("cannot read -ipccookiefile {}", missing.display())
    ));
    assert!(shows(&h, "Reconnect"), "and it can be tried again");
    assert!(matches!(h.state().model.phase, Phase::Failed(_)));
}

// ---- The node going away ------------------------------------------------------------------

#[test]
fn a_node_that_disappears_is_reported_the_window_stays_readable_and_restarts() {
    let (node, addr) = funded();
    let mut h = ready(&node);
    node.disappear();
    wait_for_text(&mut h, "Node disconnected");
    assert!(matches!(h.state().model.phase, Phase::Lost(_)));
    // Still readable: balances and the other screens show what was known.
    assert!(shows(&h, "50.00000000 BTC"));
    tab(&mut h, "Transactions");
    assert!(shows(&h, "101 of 101 transactions"));
    tab(&mut h, "Node");
    assert!(shows(&h, "101"));
    // Frames keep coming fast: nothing waits for the dead node.
    let t = Instant::now();
    for _ in 0..20 {
        h.step();
    }
    assert!(t.elapsed() < Duration::from_secs(2));
    // Actions can't be started, and say why.
    tab(&mut h, "Console");
    run_command(&mut h, "getblockcount");
    wait_for_text(&mut h, "The node is not connected.");
    tab(&mut h, "Send");
    assert!(h.get_by_label("Send…").accesskit_node().is_disabled());

    click(&mut h, "Restart node");
    settle(&mut h, "connected again", |h| h.state().model.connected());
    assert!(!shows(&h, "Node disconnected"));
    node.receive(&addr, COIN);
    settle(&mut h, "updates flow again", |h| {
        h.state().model.balances.is_some_and(|b| b.pending == COIN)
    });
}

#[test]
fn a_node_that_disappears_during_a_send_ends_the_send() {
    let (node, _) = funded();
    let to = node.new_address("alice", "");
    let mut h = ready(&node);
    send_form(&mut h, &to, "1");
    node.set_delay(Duration::from_millis(300));
    click(&mut h, "Send…");
    assert!(shows(&h, "Preparing the transaction…"));
    node.disappear();
    wait_for_text(&mut h, "Node disconnected");
    settle(&mut h, "the send given up", |h| {
        h.state().screens.send.stage == Stage::Editing
    });
    assert!(shows_part(&h, "nothing was sent"));
}

#[test]
fn a_node_that_cannot_start_is_reported_and_can_be_retried() {
    let node = FakeNode::new("regtest");
    node.add_wallet("alice", None, true);
    let connector = node.connector();
    connector.fail_with(Some("bitcoin-node not found"));
    let mut h = harness_with(connector.clone(), &[], Arc::new(AtomicBool::new(false)));
    wait_for_text(&mut h, "The node could not be started");
    assert!(shows_part(&h, "bitcoin-node not found"));
    connector.fail_with(None);
    click(&mut h, "Restart node");
    settle(&mut h, "connected", |h| h.state().model.connected());
}

#[test]
fn an_attached_node_that_goes_away_offers_reconnect() {
    let (node, _) = funded();
    let mut h = harness_with(
        node.attach_connector(),
        &[],
        Arc::new(AtomicBool::new(false)),
    );
    settle(&mut h, "balances", |h| h.state().model.balances.is_some());
    node.disappear();
    wait_for_text(&mut h, "Node disconnected");
    click(&mut h, "Reconnect");
    wait_for_text(&mut h, "Could not connect to the node");
    node.revive();
    click(&mut h, "Reconnect");
    settle(&mut h, "connected", |h| h.state().model.connected());
}

// ---- Closing --------------------------------------------------------------------------------

fn close_window(h: &mut H) {
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.step();
}

#[test]
fn closing_the_window_stops_a_node_it_started() {
    let (node, _) = funded();
    let mut h = ready(&node);
    close_window(&mut h);
    settle(&mut h, "closed", |h| h.state().closing() == Closing::Done);
    assert!(node.calls().iter().any(|c| c.1 == "stop"));
    assert!(!node.is_alive());
    // The app now tells eframe to close the window for good.
    let cmds = &h.output().viewport_output[&egui::ViewportId::ROOT].commands;
    assert!(cmds.contains(&egui::ViewportCommand::Close), "{cmds:?}");
}

#[test]
fn closing_the_window_leaves_an_attached_node_running() {
    let (node, _) = funded();
    let mut h = harness_with(
        node.attach_connector(),
        &[],
        Arc::new(AtomicBool::new(false)),
    );
    settle(&mut h, "balances", |h| h.state().model.balances.is_some());
    close_window(&mut h);
    settle(&mut h, "closed", |h| h.state().closing() == Closing::Done);
    assert!(!node.calls().iter().any(|c| c.1 == "stop"));
    assert!(node.is_alive());
}

#[test]
fn a_termination_signal_closes_like_the_window() {
    let (node, _) = funded();
    let quit = Arc::new(AtomicBool::new(false));
    let mut h = harness_with(node.connector(), &[], Arc::clone(&quit));
    settle(&mut h, "balances", |h| h.state().model.balances.is_some());
    quit.store(true, Ordering::Release);
    settle(&mut h, "closed", |h| h.state().closing() == Closing::Done);
    assert!(node.calls().iter().any(|c| c.1 == "stop"));
}

#[test]
fn closing_while_the_node_is_down_does_not_wait() {
    let (node, _) = funded();
    let mut h = ready(&node);
    node.disappear();
    wait_for_text(&mut h, "Node disconnected");
    close_window(&mut h);
    settle(&mut h, "closed", |h| h.state().closing() == Closing::Done);
}
