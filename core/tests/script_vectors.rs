//! Bitcoin Core's script and transaction vectors (`src/test/data`), run
//! through the consensus library. Needs BITCOIN_TEST_DATA (fails with
//! instructions without it). Run with `--nocapture` to see the counts.
//!
//! The rule of the data folder's README: comment rows (an array with one
//! string) are skipped; a vector expected to pass must pass under its flags
//! restricted to the consensus ones; a vector expected to fail whose flags
//! are all consensus flags must fail; a vector expected to fail whose flags
//! include policy flags is run under its consensus flags alone: if it fails
//! anyway it failed as expected (flags only add restrictions), if it passes
//! the library cannot decide it and it is counted as undecidable, never as
//! passed. The library does not say why a script fails, so the expected
//! error codes are not compared.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::hex::FromHex;
use bitcoin::opcodes::all::OP_CODESEPARATOR;
use bitcoin::script::Instruction;
use bitcoin::secp256k1::{Secp256k1, XOnlyPublicKey};
use bitcoin::sighash::SighashCache;
use bitcoin::taproot::{LeafVersion, TaprootBuilder};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, OutPoint, Script, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid,
    Witness,
};
use btc_core::archive::{ArchivedBlockArchive, BlockWire, HEADER_LEN};
use btc_core::data;
use btc_core::script::asm::parse_asm;
use btc_core::script::{
    check_transaction, verify_archived_tx, verify_input, verify_tx, CoreFlags, SpentOutput,
    VerifyError, VerifyFlags,
};
use serde_json::Value;

// ---------------------------------------------------------------------------
// Reading the files and counting

/// The rows of `core/<name>` in the data folder.
fn rows(name: &str) -> Vec<Value> {
    let path = format!("core/{name}");
    match serde_json::from_slice(&data::require(&path)) {
        Ok(Value::Array(rows)) => rows,
        Ok(_) => panic!("{path}: not a JSON array"),
        Err(e) => panic!("{path}: {e}"),
    }
}

/// A comment row: an array holding one string.
fn is_comment(row: &Value) -> bool {
    matches!(row, Value::Array(a) if a.len() == 1 && a[0].is_string())
}

/// The cases of a file: every row but the comments, with its row number.
fn cases(rows: &[Value]) -> impl Iterator<Item = (usize, &Vec<Value>)> {
    rows.iter()
        .enumerate()
        .filter(|(_, row)| !is_comment(row))
        .map(|(i, row)| match row {
            Value::Array(a) => (i, a),
            other => panic!("row {i} is neither a case nor a comment: {other}"),
        })
}

fn str_at(row: &[Value], i: usize) -> &str {
    row.get(i)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("field {i} is not a string in {row:?}"))
}

fn hex(s: &str) -> Vec<u8> {
    Vec::from_hex(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

/// What became of one vector.
#[derive(Debug)]
enum Outcome {
    /// Expected to pass, and passed.
    Passed,
    /// Expected to fail, all its flags are consensus flags, and it failed.
    Failed,
    /// Expected to fail, has policy flags, and failed under its consensus
    /// flags alone (so it fails under all of them too).
    FailedPolicyDropped,
    /// Expected to fail, failed Core's context-free transaction checks
    /// (`BADTX`).
    FailedTxChecks,
    /// Expected to fail, passed under its consensus flags: it fails only
    /// because of a policy flag, which the library cannot evaluate.
    Undecidable,
    /// Not what the vector says.
    Wrong(String),
}

/// The README's rule, for a vector run under `flags` (Core's, filled).
fn judge(
    expect_valid: bool,
    flags: CoreFlags,
    mut run: impl FnMut(VerifyFlags) -> Result<(), VerifyError>,
) -> Outcome {
    let consensus = flags.consensus();
    match (expect_valid, run(consensus)) {
        (true, Ok(())) => Outcome::Passed,
        (true, Err(e)) => Outcome::Wrong(format!("expected to pass under {consensus}: {e}")),
        (false, Err(e)) if e.is_script_failure() => {
            if flags.is_consensus_only() {
                Outcome::Failed
            } else {
                Outcome::FailedPolicyDropped
            }
        }
        (false, Err(e)) => Outcome::Wrong(format!("the call failed, not the script: {e}")),
        (false, Ok(())) if flags.is_consensus_only() => {
            Outcome::Wrong(format!("expected to fail under {flags}, passed"))
        }
        (false, Ok(())) => Outcome::Undecidable,
    }
}

/// Per-file counts, printed and checked at the end.
#[derive(Default)]
struct Tally {
    run: usize,
    passed: usize,
    failed: usize,
    failed_policy_dropped: usize,
    failed_tx_checks: usize,
    undecidable: usize,
    wrong: Vec<String>,
}

impl Tally {
    fn add(&mut self, what: String, outcome: Outcome) {
        self.run += 1;
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::FailedPolicyDropped => self.failed_policy_dropped += 1,
            Outcome::FailedTxChecks => self.failed_tx_checks += 1,
            Outcome::Undecidable => self.undecidable += 1,
            Outcome::Wrong(why) => self.wrong.push(format!("{what}: {why}")),
        }
    }

    fn failed_as_expected(&self) -> usize {
        self.failed + self.failed_policy_dropped + self.failed_tx_checks
    }

    /// Prints the counts and fails on any wrong vector or on no cases.
    fn finish(self, file: &str) {
        println!(
            "{file}: {} cases run, {} passed, {} failed as expected \
             ({} with consensus flags only, {} under their consensus flags with the policy flags dropped, \
             {} by the context-free transaction checks), {} undecidable by the consensus library \
             (expected to fail only because of a policy flag), {} wrong",
            self.run,
            self.passed,
            self.failed_as_expected(),
            self.failed,
            self.failed_policy_dropped,
            self.failed_tx_checks,
            self.undecidable,
            self.wrong.len(),
        );
        for w in &self.wrong {
            println!("  WRONG {w}");
        }
        assert!(self.run > 0, "{file}: no cases found");
        assert_eq!(
            self.run,
            self.passed + self.failed_as_expected() + self.undecidable + self.wrong.len()
        );
        assert!(
            self.wrong.is_empty(),
            "{file}: {} vectors wrong:\n{}",
            self.wrong.len(),
            self.wrong.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------
// script_tests.json

/// Core's `XOnlyPubKey::NUMS_H`: the internal key of the test taproot
/// outputs (no known private key).
const NUMS_H: &str = "50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0";

/// Core's `BuildCreditingTransaction`.
fn crediting_tx(script_pubkey: ScriptBuf, value: Amount) -> Transaction {
    Transaction {
        version: Version::ONE,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            // CScript() << CScriptNum(0) << CScriptNum(0)
            script_sig: ScriptBuf::from_bytes(vec![0x00, 0x00]),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value,
            script_pubkey,
        }],
    }
}

/// Core's `BuildSpendingTransaction`.
fn spending_tx(script_sig: ScriptBuf, witness: Witness, credit: &Transaction) -> Transaction {
    Transaction {
        version: Version::ONE,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(credit.compute_txid(), 0),
            script_sig,
            sequence: Sequence::MAX,
            witness,
        }],
        output: vec![TxOut {
            value: credit.output[0].value,
            script_pubkey: ScriptBuf::new(),
        }],
    }
}

/// Amounts in the vectors are in bitcoin (Core's `AmountFromValue`).
fn btc_amount(v: &Value) -> Amount {
    let btc = v
        .as_f64()
        .unwrap_or_else(|| panic!("amount {v} is not a number"));
    Amount::from_sat((btc * 1e8).round() as u64)
}

/// A witness as Core's script_tests give it: hex items, `#SCRIPT# <asm>`
/// for a script, `#CONTROLBLOCK#` for the control block of a one-leaf tree
/// holding the previous item under the NUMS internal key. Returns the
/// witness and that tree's output key, if one was built.
fn parse_witness(items: &[Value]) -> (Witness, Option<[u8; 32]>) {
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut output_key = None;
    for item in items {
        let item = item
            .as_str()
            .unwrap_or_else(|| panic!("witness item {item}"));
        if let Some(asm) = item.strip_prefix("#SCRIPT#") {
            stack.push(parse_asm(asm).expect("witness script").into_bytes());
        } else if item == "#CONTROLBLOCK#" {
            let secp = Secp256k1::verification_only();
            let nums = XOnlyPublicKey::from_slice(&hex(NUMS_H)).expect("NUMS point");
            let leaf = ScriptBuf::from_bytes(stack.last().expect("a tapscript").clone());
            let info = TaprootBuilder::new()
                .add_leaf(0, leaf.clone())
                .expect("one leaf")
                .finalize(&secp, nums)
                .expect("complete tree");
            let control = info
                .control_block(&(leaf, LeafVersion::TapScript))
                .expect("the leaf is in the tree");
            stack.push(control.serialize());
            output_key = Some(info.output_key().to_x_only_public_key().serialize());
        } else {
            stack.push(hex(item));
        }
    }
    (Witness::from_slice(&stack), output_key)
}

#[test]
fn script_tests() {
    let rows = rows("script_tests.json");
    let mut tally = Tally::default();
    for (i, row) in cases(&rows) {
        // [[witness..., amount]?, scriptSig, scriptPubKey, flags, error, comment?]
        let (witness, output_key, amount, rest) = match &row[0] {
            Value::Array(w) => {
                let (amount, items) = w.split_last().expect("witness with an amount");
                let (witness, key) = parse_witness(items);
                (witness, key, btc_amount(amount), &row[1..])
            }
            _ => (Witness::new(), None, Amount::ZERO, &row[..]),
        };
        assert!(rest.len() >= 4, "row {i}: too few fields: {row:?}");
        let (sig_asm, spk_asm, flags, expected) = (
            str_at(rest, 0),
            str_at(rest, 1),
            str_at(rest, 2),
            str_at(rest, 3),
        );
        let what = format!("row {i} [{sig_asm}] [{spk_asm}] {flags} {expected}");
        let script_sig = parse_asm(sig_asm).unwrap_or_else(|e| panic!("{what}: {e}"));
        let script_pubkey = if spk_asm == "0x51 0x20 #TAPROOTOUTPUT#" {
            let key = output_key.unwrap_or_else(|| panic!("{what}: no taproot tree"));
            let mut spk = vec![0x51, 0x20];
            spk.extend_from_slice(&key);
            ScriptBuf::from_bytes(spk)
        } else {
            parse_asm(spk_asm).unwrap_or_else(|e| panic!("{what}: {e}"))
        };
        // DoTest: CLEANSTACK brings P2SH and WITNESS.
        let flags = CoreFlags::parse(flags)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .fill();
        let credit = crediting_tx(script_pubkey.clone(), amount);
        let spend = serialize(&spending_tx(script_sig, witness, &credit));
        let spent: [SpentOutput; 1] = [(amount, script_pubkey.as_bytes())];
        let outcome = judge(expected == "OK", flags, |f| {
            verify_input(&spend, 0, &spent, f)
        });
        tally.add(what, outcome);
    }
    tally.finish("script_tests.json");
}

// ---------------------------------------------------------------------------
// tx_valid.json, tx_invalid.json

/// One vector of tx_valid / tx_invalid.
struct TxCase {
    row: usize,
    tx: Transaction,
    bytes: Vec<u8>,
    /// (amount, scriptPubKey) of each input's prevout, in input order, or
    /// the first prevout missing from the vector.
    spent: Result<Vec<(Amount, ScriptBuf)>, OutPoint>,
    flags: String,
}

impl TxCase {
    fn parse(row_number: usize, row: &[Value]) -> TxCase {
        assert_eq!(row.len(), 3, "row {row_number}: not [prevouts, tx, flags]");
        let mut prevouts = HashMap::new();
        for p in row[0]
            .as_array()
            .unwrap_or_else(|| panic!("row {row_number}: prevouts"))
        {
            // [txid, index (-1 for 0xffffffff), scriptPubKey asm, amount?]
            let txid = Txid::from_str(str_at(p.as_array().expect("prevout"), 0))
                .unwrap_or_else(|e| panic!("row {row_number}: {e}"));
            let vout = p[1].as_i64().expect("prevout index") as u32;
            let spk = parse_asm(p[2].as_str().expect("prevout script"))
                .unwrap_or_else(|e| panic!("row {row_number}: {e}"));
            let amount = p
                .get(3)
                .map_or(0, |a| a.as_u64().expect("amount in satoshis"));
            prevouts.insert(OutPoint::new(txid, vout), (Amount::from_sat(amount), spk));
        }
        let bytes = hex(str_at(row, 1));
        let tx: Transaction =
            deserialize(&bytes).unwrap_or_else(|e| panic!("row {row_number}: {e}"));
        let spent = tx
            .input
            .iter()
            .map(|i| {
                prevouts
                    .get(&i.previous_output)
                    .cloned()
                    .ok_or(i.previous_output)
            })
            .collect();
        TxCase {
            row: row_number,
            tx,
            bytes,
            spent,
            flags: str_at(row, 2).to_owned(),
        }
    }

    fn what(&self) -> String {
        format!(
            "row {} ({}) flags {}",
            self.row,
            self.tx.compute_txid(),
            self.flags
        )
    }
}

/// The cases of a tx file that reach the scripts, in one block, archived:
/// the test verifies them in place, as a node would.
struct Archived {
    buf: rkyv::util::AlignedVec<16>,
}

impl Archived {
    fn new<'a>(txs: impl Iterator<Item = &'a [u8]>) -> Archived {
        let txs: Vec<&[u8]> = txs.collect();
        let mut block = vec![0u8; HEADER_LEN];
        bitcoin::consensus::Encodable::consensus_encode(
            &bitcoin::VarInt(txs.len() as u64),
            &mut block,
        )
        .unwrap();
        txs.iter().for_each(|tx| block.extend_from_slice(tx));
        let buf = BlockWire::parse(block)
            .expect("vectors parse as a block")
            .to_archive();
        Archived { buf }
    }

    fn block(&self) -> &ArchivedBlockArchive {
        ArchivedBlockArchive::from_bytes(&self.buf).expect("valid archive")
    }
}

/// Verifies case `case` (transaction `index` of the archived block) under
/// `flags`: from the archive in place, and from its bytes, which must
/// agree. A coinbase vector runs its script like Core's test does, which
/// only the bytes path does (a block's coinbase runs no script).
fn run_tx(
    block: &ArchivedBlockArchive,
    index: usize,
    case: &TxCase,
    spent: &[SpentOutput],
    flags: VerifyFlags,
) -> Result<(), VerifyError> {
    let from_bytes = verify_tx(&case.bytes, spent, flags);
    if case.tx.is_coinbase() {
        return from_bytes;
    }
    let t = block.tx(index).expect("in the block");
    assert_eq!(t.bytes(), case.bytes, "{}: archived bytes", case.what());
    let in_place = verify_archived_tx(block, index, spent, flags);
    assert_eq!(
        in_place,
        from_bytes,
        "{}: archive and bytes disagree",
        case.what()
    );
    in_place
}

fn tx_file(file: &str, expect_valid: bool) {
    let rows = rows(file);
    let cases: Vec<TxCase> = cases(&rows).map(|(i, row)| TxCase::parse(i, row)).collect();
    let mut tally = Tally::default();
    // Extra checks of Core's tests: the flags of tx_valid are maximal
    // (adding back one excluded flag makes it fail), those of tx_invalid
    // minimal (removing one makes it pass).
    let mut extra = Tally::default();

    // BADTX: Core's context-free checks decide these before any script.
    let mut scripted = Vec::new();
    for case in &cases {
        let checks = check_transaction(&case.tx);
        let bad_tx = case.flags == "BADTX";
        match (expect_valid, checks, bad_tx) {
            (_, Ok(()), false) => scripted.push(case),
            (false, Err(_), true) => tally.add(case.what(), Outcome::FailedTxChecks),
            (_, Ok(()), true) => tally.add(
                case.what(),
                Outcome::Wrong("BADTX but passes the context-free checks".into()),
            ),
            (_, Err(e), _) => tally.add(
                case.what(),
                Outcome::Wrong(format!("fails the context-free checks: {e}")),
            ),
        }
    }

    let archived = Archived::new(scripted.iter().map(|c| c.bytes.as_slice()));
    let block = archived.block();
    assert_eq!(block.tx_count(), scripted.len());
    for (index, case) in scripted.iter().enumerate() {
        let spent_owned = match &case.spent {
            Ok(spent) => spent,
            Err(missing) => {
                tally.add(case.what(), Outcome::Wrong(format!("no prevout {missing}")));
                continue;
            }
        };
        let spent: Vec<SpentOutput> = spent_owned
            .iter()
            .map(|(amount, spk)| (*amount, spk.as_bytes()))
            .collect();
        let listed =
            CoreFlags::parse(&case.flags).unwrap_or_else(|e| panic!("{}: {e}", case.what()));
        let mut run = |f: VerifyFlags| run_tx(block, index, case, &spent, f);
        if expect_valid {
            // The field lists the flags to exclude.
            let flags = CoreFlags::ALL - listed;
            if flags != flags.fill() {
                tally.add(case.what(), Outcome::Wrong("bad flags".into()));
                continue;
            }
            tally.add(case.what(), judge(true, flags, &mut run));
            // Core's ExcludeIndividualFlags over the excluded set.
            for combo in exclude_each(listed) {
                let flags = CoreFlags::ALL - combo;
                let what = format!("{} with {} enabled again", case.what(), listed - combo);
                extra.add(what, judge(false, flags, &mut run));
            }
        } else {
            let flags = listed;
            if flags != flags.fill() {
                tally.add(case.what(), Outcome::Wrong("bad flags".into()));
                continue;
            }
            tally.add(case.what(), judge(false, flags, &mut run));
            for combo in exclude_each(listed) {
                let what = format!("{} without {}", case.what(), listed - combo);
                extra.add(what, judge(true, combo, &mut run));
            }
        }
    }
    tally.finish(file);
    let extra_name = if expect_valid {
        format!("{file} (flags maximal: each excluded flag enabled again must fail)")
    } else {
        format!("{file} (flags minimal: each flag removed must pass)")
    };
    if extra.run > 0 {
        extra.finish(&extra_name);
    }
}

/// Core's `ExcludeIndividualFlags`: `flags` without each of its flags in
/// turn, trimmed (no WITNESS without P2SH, no CLEANSTACK without WITNESS),
/// distinct and different from `flags`.
fn exclude_each(flags: CoreFlags) -> Vec<CoreFlags> {
    let mut seen = HashSet::new();
    CoreFlags::ALL
        .iter()
        .map(|f| (flags - f).trim())
        .filter(|&combo| combo != flags && seen.insert(combo))
        .collect()
}

#[test]
fn tx_valid() {
    tx_file("tx_valid.json", true);
}

#[test]
fn tx_invalid() {
    tx_file("tx_invalid.json", false);
}

// ---------------------------------------------------------------------------
// sighash.json

/// The scriptCode as Core serializes it for a legacy sighash: without its
/// OP_CODESEPARATORs (rust-bitcoin's `legacy_signature_hash` hashes the
/// script it is given as is).
fn without_codeseparators(script: &Script) -> ScriptBuf {
    let bytes = script.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut start = 0;
    for item in script.instruction_indices() {
        let (at, ins) = item.expect("sighash.json scripts parse");
        if ins == Instruction::Op(OP_CODESEPARATOR) {
            out.extend_from_slice(&bytes[start..at]);
            start = at + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    ScriptBuf::from_bytes(out)
}

#[test]
fn sighash() {
    let rows = rows("sighash.json");
    let mut tally = Tally::default();
    let mut single_bug = 0;
    for (i, row) in cases(&rows) {
        // [raw tx, script, input index, hash type, expected sighash (display order)]
        assert_eq!(row.len(), 5, "row {i}: {row:?}");
        let what = format!("row {i}");
        let tx: Transaction =
            deserialize(&hex(str_at(row, 0))).unwrap_or_else(|e| panic!("{what}: {e}"));
        let script = ScriptBuf::from_bytes(hex(str_at(row, 1)));
        let input = row[2].as_u64().expect("input index") as usize;
        let hash_type = row[3].as_i64().expect("hash type") as i32 as u32;
        let mut expected = hex(str_at(row, 4));
        expected.reverse();
        if let Err(e) = check_transaction(&tx) {
            tally.add(what, Outcome::Wrong(format!("fails CheckTransaction: {e}")));
            continue;
        }
        let got = SighashCache::new(&tx)
            .legacy_signature_hash(input, &without_codeseparators(&script), hash_type)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let mut one = [0u8; 32];
        one[0] = 1;
        if got.to_byte_array() == one {
            single_bug += 1;
        }
        let outcome = if got.to_byte_array()[..] == expected[..] {
            Outcome::Passed
        } else {
            Outcome::Wrong(format!("sighash {got}, expected {}", str_at(row, 4)))
        };
        tally.add(what, outcome);
    }
    println!("sighash.json: {single_bug} vectors hit SIGHASH_SINGLE without a matching output");
    tally.finish("sighash.json");
}

/// The vectors never sign SIGHASH_SINGLE for an input without an output of
/// the same index, where Core's `SignatureHash` returns 1 (the "SIGHASH_SINGLE
/// bug"): checked on every vector transaction with more inputs than outputs.
#[test]
fn sighash_single_without_matching_output_is_one() {
    let rows = rows("sighash.json");
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut checked = 0;
    for (i, row) in cases(&rows) {
        let tx: Transaction = deserialize(&hex(str_at(row, 0))).expect("tx");
        let script = ScriptBuf::from_bytes(hex(str_at(row, 1)));
        for input in tx.output.len()..tx.input.len() {
            for hash_type in [0x03, 0x83, 0x43] {
                let got = SighashCache::new(&tx)
                    .legacy_signature_hash(input, &script, hash_type)
                    .unwrap_or_else(|e| panic!("row {i}: {e}"));
                assert_eq!(
                    got.to_byte_array(),
                    one,
                    "row {i} input {input} {hash_type:#x}"
                );
                checked += 1;
            }
        }
    }
    println!(
        "sighash.json: SIGHASH_SINGLE bug (hash 1) checked on {checked} (tx, input, type) triples"
    );
    assert!(checked > 0);
}

// ---------------------------------------------------------------------------
// Taproot needs every spent output

/// BIP341's key-path vector: the signed transaction verifies with every
/// spent output given, and a taproot input fails when the amount of
/// another input's spent output is wrong (taproot signatures commit to all
/// of them, so the library must have read them).
#[test]
fn taproot_signatures_commit_to_every_spent_output() {
    let v: Value = serde_json::from_slice(&data::require("core/bip341_wallet_vectors.json"))
        .expect("bip341 vectors");
    let case = &v["keyPathSpending"][0];
    let tx = hex(case["auxiliary"]["fullySignedTx"]
        .as_str()
        .expect("signed tx"));
    let utxos: Vec<(Amount, Vec<u8>)> = case["given"]["utxosSpent"]
        .as_array()
        .expect("utxos")
        .iter()
        .map(|u| {
            (
                Amount::from_sat(u["amountSats"].as_u64().expect("amount")),
                hex(u["scriptPubKey"].as_str().expect("script")),
            )
        })
        .collect();
    let spent: Vec<SpentOutput> = utxos.iter().map(|(a, s)| (*a, s.as_slice())).collect();
    // (input index, hash type)
    let inputs: Vec<(usize, u64)> = case["inputSpending"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|i| {
            let given = &i["given"];
            let index = given["txinIndex"].as_u64().expect("index") as usize;
            (index, given["hashType"].as_u64().expect("hash type"))
        })
        .collect();
    let mut committing = 0;
    for &(input, hash_type) in &inputs {
        verify_input(&tx, input, &spent, VerifyFlags::ALL)
            .unwrap_or_else(|e| panic!("input {input}: {e}"));
        // ANYONECANPAY signs its own spent output only; the others sign
        // every input's: change another input's amount by one satoshi.
        let changed = if hash_type & 0x80 == 0 {
            committing += 1;
            (input + 1) % spent.len()
        } else {
            input
        };
        let mut wrong = spent.clone();
        wrong[changed].0 += Amount::from_sat(1);
        let err = verify_input(&tx, input, &wrong, VerifyFlags::ALL).unwrap_err();
        assert!(err.is_script_failure(), "input {input}: {err}");
        // Too few spent outputs: refused, not verified.
        let err = verify_input(&tx, input, &spent[..spent.len() - 1], VerifyFlags::ALL);
        assert!(matches!(err, Err(e) if !e.is_script_failure()));
    }
    assert!(committing >= 2);
    println!(
        "bip341_wallet_vectors.json: {} taproot key-path inputs verified; {committing} of them \
         (not ANYONECANPAY) fail when another input's spent amount changes",
        inputs.len()
    );
}

// ---------------------------------------------------------------------------
// Real blocks, in place

/// Every transaction of a real block whose inputs all spend outputs of the
/// same block verifies from the archive, the spent outputs borrowed from
/// the archive too (`OutputRef::script_bytes`), under every consensus flag
/// (what Core applies to these blocks today). Changing a spent amount breaks
/// the segwit ones.
fn in_block_spends(file: &str) -> (usize, usize, usize) {
    let wire = data::require(file);
    let buf = BlockWire::parse(wire).expect("block parses").to_archive();
    let a = ArchivedBlockArchive::from_bytes(&buf).expect("archive validates");
    let mut position = HashMap::new();
    let (mut verified, mut inputs, mut segwit_broken) = (0, 0, 0);
    for t in a.txs() {
        let spent: Option<Vec<SpentOutput>> = t
            .inputs()
            .map(|i| {
                let &m = position.get(&i.prev_txid())?;
                let out = a.output(m, i.prev_vout() as usize)?;
                Some((out.value(), out.script_bytes()))
            })
            .collect();
        position.insert(t.txid(), t.index());
        let Some(spent) = spent.filter(|_| !t.is_coinbase()) else {
            continue;
        };
        verify_archived_tx(a, t.index(), &spent, VerifyFlags::ALL)
            .unwrap_or_else(|e| panic!("{file} tx {} ({}): {e}", t.index(), t.txid()));
        verified += 1;
        inputs += spent.len();
        if t.is_segwit() {
            let mut wrong = spent.clone();
            for s in &mut wrong {
                s.0 += Amount::from_sat(1);
            }
            let err = verify_archived_tx(a, t.index(), &wrong, VerifyFlags::ALL).unwrap_err();
            assert!(err.is_script_failure(), "{err}");
            segwit_broken += 1;
        }
    }
    // The coinbase spends nothing; other misuses are refused.
    assert_eq!(verify_archived_tx(a, 0, &[], VerifyFlags::ALL), Ok(()));
    assert_eq!(
        verify_archived_tx(a, a.tx_count(), &[], VerifyFlags::ALL),
        Err(VerifyError::NoSuchTx {
            tx: a.tx_count(),
            count: a.tx_count()
        })
    );
    assert!(matches!(
        verify_archived_tx(a, 1, &[], VerifyFlags::ALL),
        Err(VerifyError::SpentOutputsCount { given: 0, .. })
    ));
    println!(
        "{file}: {verified} transactions ({inputs} inputs) spending only outputs of the same block \
         verified in place; {segwit_broken} segwit ones fail with their amounts changed"
    );
    (verified, inputs, segwit_broken)
}

#[test]
fn block_413567_in_block_spends_verify_in_place() {
    let (verified, _, _) = in_block_spends(data::BLOCK_413567);
    assert!(verified > 0);
}

#[test]
fn block_702861_in_block_spends_verify_in_place() {
    let (verified, _, segwit) = in_block_spends(data::BLOCK_702861);
    assert!(verified > 0 && segwit > 0);
}

#[test]
fn flags_the_library_would_abort_on_are_refused() {
    let err = verify_input(&[], 0, &[], VerifyFlags::WITNESS).unwrap_err();
    assert_eq!(err, VerifyError::InvalidFlags(VerifyFlags::WITNESS));
}
