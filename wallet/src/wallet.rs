//! [`Wallet`]: the state of one wallet and its file. Creating and opening,
//! descriptors and their ranges, and the write path (every change goes
//! through a [`Batch`] committed before it is visible to a caller).
//!
//! Other `impl Wallet` blocks: [`crate::sync`] (blocks and mempool),
//! [`crate::addresses`], [`crate::import`], [`crate::spend`],
//! [`crate::sign`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::bip32::Xpriv;
use bitcoin::{Amount, BlockHash, FeeRate, Network, OutPoint, ScriptBuf};
use miniscript::descriptor::KeyMap;

use crate::descriptor::{self, WalletDescriptor};
use crate::error::{StoreError, WalletError};
use crate::index::{OutpointIndex, ScriptIndex, ScriptOrigin};
use crate::keys::KeyStore;
use crate::ledger::Ledger;
use crate::output_type::OutputType;
use crate::records::{
    self, DescRecord, LastBlock, SecretRecord, Settings, TxRecord, FORMAT_VERSION, META_LAST_BLOCK,
    META_MASTER_KEY, META_NEXT_DESC, META_ORDER, META_SETTINGS,
};
use crate::store::{Batch, Store, WALLET_FILE};
use crate::tx::WalletTx;

/// Core's default keypool size (`-keypool`).
pub const DEFAULT_KEYPOOL_SIZE: u32 = 1000;

/// Settings that come from the node's configuration, not the wallet file
/// (Core's wallet options).
#[derive(Debug, Clone)]
pub struct WalletOptions {
    /// The chain.
    pub network: Network,
    /// `-keypool`: addresses derived ahead of the next one handed out.
    pub keypool_size: u32,
    /// `-fallbackfee`: used when the node has no estimate; `None` (Core's
    /// default, 0) disables it.
    pub fallback_fee: Option<FeeRate>,
    /// `-paytxfee`: a fixed fee rate instead of estimates (`None`: off).
    pub pay_tx_fee: Option<FeeRate>,
    /// `-mintxfee`: the lowest fee rate the wallet pays (1 sat/vB).
    pub min_tx_fee: FeeRate,
    /// `-maxtxfee`: the highest absolute fee (0.1 BTC).
    pub max_tx_fee: Amount,
    /// `-discardfee`: change worth less than spending it at this rate is
    /// dropped to fees (10 sat/vB).
    pub discard_fee: FeeRate,
    /// `-txconfirmtarget` (6).
    pub confirm_target: u32,
    /// `-walletrbf` (true): signal BIP125 replaceability by default.
    pub wallet_rbf: bool,
    /// `-addresstype` (bech32).
    pub default_address_type: OutputType,
    /// `-changetype` (unset: Core 28's rule from the recipients).
    pub change_type: Option<OutputType>,
    /// Lowest KDF round count for encryption (Core: 25,000; tests may
    /// lower it, calibration still applies).
    pub kdf_min_rounds: u32,
    /// Whether calibration may raise the round count (off in tests).
    pub kdf_calibrate: bool,
}

impl WalletOptions {
    /// Core's defaults for `network`.
    pub fn new(network: Network) -> WalletOptions {
        WalletOptions {
            network,
            keypool_size: DEFAULT_KEYPOOL_SIZE,
            fallback_fee: None,
            pay_tx_fee: None,
            min_tx_fee: FeeRate::from_sat_per_vb_u32(1),
            max_tx_fee: Amount::from_sat(10_000_000),
            discard_fee: FeeRate::from_sat_per_vb_u32(10),
            confirm_target: 6,
            wallet_rbf: true,
            default_address_type: OutputType::Bech32,
            change_type: None,
            kdf_min_rounds: crate::crypto::MIN_ROUNDS,
            kdf_calibrate: true,
        }
    }

    /// The options a node gives its wallets: Core's defaults for `network`
    /// with `-fallbackfee` (in sat/kvB; 0 or none: no fallback).
    pub fn with_fallback_fee(network: Network, fallback_sat_kvb: Option<u64>) -> WalletOptions {
        let mut o = WalletOptions::new(network);
        o.fallback_fee = fallback_sat_kvb
            .filter(|&f| f > 0)
            .map(|f| bitcoin::FeeRate::from_sat_per_kwu(f.div_ceil(4)));
        o
    }
}

/// What `createwallet` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// No private keys (watch-only).
    pub disable_private_keys: bool,
    /// No descriptors at all (import them later).
    pub blank: bool,
    /// Encrypt at creation.
    pub passphrase: Option<String>,
    /// Core's `avoid_reuse` flag (recorded and reported).
    pub avoid_reuse: bool,
    /// The BIP32 master key; random when `None` (tests pass a known one).
    pub master_key: Option<Xpriv>,
}

/// Unix time now, in seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn network_name(n: Network) -> &'static str {
    match n {
        Network::Bitcoin => "bitcoin",
        Network::Testnet => "testnet",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
        _ => "testnet4",
    }
}

/// A descriptor wallet.
pub struct Wallet {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) options: WalletOptions,
    pub(crate) settings: Settings,
    pub(crate) store: Store,
    pub(crate) descriptors: BTreeMap<u32, WalletDescriptor>,
    pub(crate) next_desc: u32,
    pub(crate) keys: KeyStore,
    pub(crate) scripts: ScriptIndex,
    pub(crate) outpoints: OutpointIndex,
    pub(crate) ledger: Ledger,
    pub(crate) labels: HashMap<ScriptBuf, String>,
    pub(crate) last_block: Option<LastBlock>,
    pub(crate) locator: crate::sync::Locator,
    pub(crate) next_order: u64,
    #[allow(dead_code)]
    pub(crate) locked_coins: HashSet<OutPoint>,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("name", &self.name)
            .field("descriptors", &self.descriptors.len())
            .field("scripts", &self.scripts.len())
            .field("txs", &self.ledger.len())
            .field("last_block", &self.last_block)
            .finish()
    }
}

impl Wallet {
    /// Creates wallet `name` in folder `dir` (which must not hold a wallet
    /// file yet): a random (or given) master key and Core's eight default
    /// descriptors, unless blank or without private keys; written durably
    /// before this returns.
    pub fn create(
        dir: &Path,
        name: &str,
        options: WalletOptions,
        create: CreateOptions,
    ) -> Result<Wallet, WalletError> {
        std::fs::create_dir_all(dir).map_err(StoreError::Io)?;
        let store = Store::create(&dir.join(WALLET_FILE))?;
        let settings = Settings {
            format_version: FORMAT_VERSION,
            network: network_name(options.network).into(),
            disable_private_keys: create.disable_private_keys,
            blank: create.blank,
            avoid_reuse: create.avoid_reuse,
            birthtime: now(),
        };
        let mut wallet = Wallet {
            name: name.to_owned(),
            dir: dir.to_owned(),
            options,
            settings: settings.clone(),
            store,
            descriptors: BTreeMap::new(),
            next_desc: 0,
            keys: KeyStore::default(),
            scripts: ScriptIndex::new(),
            outpoints: OutpointIndex::new(),
            ledger: Ledger::new(),
            labels: HashMap::new(),
            last_block: None,
            locator: Default::default(),
            next_order: 0,
            locked_coins: HashSet::new(),
        };
        let mut batch = Batch::default();
        batch
            .meta
            .push((META_SETTINGS, Some(records::encode(&settings))));
        // As Core: an encrypted wallet is encrypted before its keys exist,
        // so no private key is ever written in clear.
        let passphrase = create.passphrase.filter(|p| !p.is_empty());
        if let Some(pass) = &passphrase {
            if create.disable_private_keys {
                return Err(WalletError::Other(
                    "Passphrase provided but private keys are disabled. A passphrase is only used to encrypt private keys, so cannot be used for wallets with private keys disabled.".into(),
                ));
            }
            let rounds = wallet.kdf_rounds();
            let (record, _) = wallet.keys.encrypt(pass, rounds, &HashMap::new())?;
            batch
                .meta
                .push((META_MASTER_KEY, Some(records::encode(&record))));
            wallet.keys.unlock(pass, now().saturating_add(60))?;
        }
        if !create.blank && !create.disable_private_keys {
            let master = match create.master_key {
                Some(m) => m,
                None => {
                    let seed: [u8; 32] = crate::crypto::random_bytes();
                    Xpriv::new_master(wallet.options.network, &seed)
                        .map_err(|e| WalletError::Other(e.to_string()))?
                }
            };
            wallet.setup_descriptors(&master, &mut batch)?;
        }
        wallet.keys.lock();
        wallet.store.commit(&batch, true)?;
        Ok(wallet)
    }

    /// Core's `SetupDescriptorScriptPubKeyMans`: the eight default
    /// descriptors of `master`, active, keypool derived.
    pub(crate) fn setup_descriptors(
        &mut self,
        master: &Xpriv,
        batch: &mut Batch,
    ) -> Result<(), WalletError> {
        let time = now();
        for internal in [false, true] {
            for ty in OutputType::ALL {
                let text =
                    descriptor::default_descriptor(master, ty, internal, self.options.network);
                let (desc, keys, _) = descriptor::parse(&text, false)?;
                let id = self.next_desc;
                self.next_desc += 1;
                let wd = WalletDescriptor::new(id, desc, time, 0, 0, 0, true, internal, false);
                let private = wd.private_string(&keys);
                let secret = self.keys.add(id, keys, &private, now())?;
                batch.secrets.push((id, records::encode(&secret)));
                self.deactivate_others(ty, internal, batch);
                self.descriptors.insert(id, wd);
                self.top_up(id)?;
                self.persist_desc(id, batch);
            }
        }
        batch
            .meta
            .push((META_NEXT_DESC, Some(records::encode(&self.next_desc))));
        Ok(())
    }

    /// Opens wallet `name` from folder `dir`.
    pub fn open(dir: &Path, name: &str, options: WalletOptions) -> Result<Wallet, WalletError> {
        let store = Store::open(&dir.join(WALLET_FILE))?;
        let loaded = store.load()?;
        let settings: Settings = records::decode(
            loaded
                .meta
                .get(META_SETTINGS)
                .ok_or_else(|| StoreError::Corrupt("no settings record".into()))?,
            "settings",
        )?;
        if settings.network != network_name(options.network) {
            return Err(WalletError::Other(format!(
                "Wallet files should not be reused across chains. Restart bitcoind with -{} or remove the wallet.",
                settings.network
            )));
        }
        let get = |key: &str| loaded.meta.get(key);
        let last_block: Option<LastBlock> = get(META_LAST_BLOCK)
            .map(|b| records::decode(b, "last block"))
            .transpose()?;
        let locator = get(crate::sync::META_LOCATOR)
            .map(|b| records::decode(b, "locator"))
            .transpose()?
            .unwrap_or_default();
        let master = get(META_MASTER_KEY)
            .map(|b| records::decode(b, "master key"))
            .transpose()?;
        let next_order: u64 = get(META_ORDER)
            .map(|b| records::decode(b, "order"))
            .transpose()?
            .unwrap_or(0);
        let next_desc: u32 = get(META_NEXT_DESC)
            .map(|b| records::decode(b, "next descriptor id"))
            .transpose()?
            .unwrap_or(0);
        let mut secrets = Vec::new();
        for (id, bytes) in &loaded.secrets {
            secrets.push((*id, records::decode::<SecretRecord>(bytes, "secret")?));
        }
        let keys = KeyStore::load(master, secrets)?;
        let mut wallet = Wallet {
            name: name.to_owned(),
            dir: dir.to_owned(),
            options,
            settings,
            store,
            descriptors: BTreeMap::new(),
            next_desc,
            keys,
            scripts: ScriptIndex::new(),
            outpoints: OutpointIndex::new(),
            ledger: Ledger::new(),
            labels: HashMap::new(),
            last_block,
            locator,
            next_order,
            locked_coins: HashSet::new(),
        };
        for (id, bytes) in &loaded.descs {
            let rec: DescRecord = records::decode(bytes, "descriptor")?;
            let (desc, _, _) = descriptor::parse(&rec.desc, false)
                .map_err(|e| StoreError::Corrupt(format!("descriptor {id}: {}", e.0)))?;
            let wd = WalletDescriptor::new(
                *id,
                desc,
                rec.timestamp,
                rec.range_start,
                rec.range_end,
                rec.next_index,
                rec.active,
                rec.internal,
                rec.apostrophe,
            );
            for (index, script) in wd.derive_range(rec.range_start, rec.range_end)? {
                wallet
                    .scripts
                    .insert(&script, ScriptOrigin { desc: *id, index });
            }
            wallet.descriptors.insert(*id, wd);
            wallet.next_desc = wallet.next_desc.max(id + 1);
        }
        for bytes in &loaded.txs {
            let rec: TxRecord = records::decode(bytes, "transaction")?;
            let wtx = rec.to_wtx()?;
            wallet.next_order = wallet.next_order.max(wtx.order + 1);
            wallet.ledger.insert(wtx);
        }
        for (script, label) in loaded.labels {
            wallet.labels.insert(ScriptBuf::from_bytes(script), label);
        }
        wallet.rebuild_outpoints();
        Ok(wallet)
    }

    /// Rebuilds the outpoint set from the ledger: every wallet output.
    pub(crate) fn rebuild_outpoints(&mut self) {
        let mut set = OutpointIndex::new();
        for w in self.ledger.iter() {
            for (n, o) in w.tx.output.iter().enumerate() {
                if self.scripts.contains(o.script_pubkey.as_bytes()) {
                    set.insert(OutPoint::new(w.txid, n as u32));
                }
            }
        }
        self.outpoints = set;
    }

    /// The wallet's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wallet's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The chain it is for.
    pub fn network(&self) -> Network {
        self.options.network
    }

    /// The node-side options.
    pub fn options(&self) -> &WalletOptions {
        &self.options
    }

    /// Mutable node-side options (`settxfee` changes `pay_tx_fee`).
    pub fn options_mut(&mut self) -> &mut WalletOptions {
        &mut self.options
    }

    /// The last block whose effects the wallet holds: `(height, hash)`.
    pub fn last_block(&self) -> Option<(u32, BlockHash)> {
        self.last_block.map(|b| (b.height, b.block_hash()))
    }

    /// The scriptPubKeys matched in blocks (lookahead included).
    pub fn script_index(&self) -> &ScriptIndex {
        &self.scripts
    }

    /// The wallet's outputs matched against block inputs.
    pub fn outpoint_index(&self) -> &OutpointIndex {
        &self.outpoints
    }

    /// The wallet's transactions.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The wallet's descriptors by id.
    pub fn descriptors(&self) -> &BTreeMap<u32, WalletDescriptor> {
        &self.descriptors
    }

    /// Whether private keys are disabled.
    pub fn private_keys_disabled(&self) -> bool {
        self.settings.disable_private_keys
    }

    /// Whether the wallet was created blank.
    pub fn is_blank(&self) -> bool {
        self.settings.blank
    }

    /// Whether the avoid_reuse flag is set.
    pub fn avoid_reuse(&self) -> bool {
        self.settings.avoid_reuse
    }

    /// Creation time (unix seconds).
    pub fn birthtime(&self) -> u64 {
        self.settings.birthtime
    }

    /// Whether the wallet is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.keys.is_encrypted()
    }

    /// Whether it is encrypted and locked now.
    pub fn is_locked(&mut self) -> bool {
        self.keys.is_locked(now())
    }

    /// The active descriptor for `(type, internal)`.
    pub fn active_descriptor(&self, ty: OutputType, internal: bool) -> Option<&WalletDescriptor> {
        self.descriptors
            .values()
            .find(|d| d.active && d.internal == internal && d.output_type() == Some(ty))
    }

    /// The label of a script, if it is in the address book.
    pub fn label(&self, script: &ScriptBuf) -> Option<&str> {
        self.labels.get(script).map(String::as_str)
    }

    /// Where a wallet script comes from.
    pub fn origin(&self, script: &[u8]) -> Option<ScriptOrigin> {
        self.scripts.get(script)
    }

    /// Core's `IsChange`: a wallet script without an address book entry.
    pub fn is_change(&self, script: &ScriptBuf) -> bool {
        self.scripts.contains(script.as_bytes()) && !self.labels.contains_key(script)
    }

    /// Makes every other active descriptor of `(ty, internal)` inactive.
    pub(crate) fn deactivate_others(&mut self, ty: OutputType, internal: bool, batch: &mut Batch) {
        let ids: Vec<u32> = self
            .descriptors
            .values()
            .filter(|d| d.active && d.internal == internal && d.output_type() == Some(ty))
            .map(|d| d.id)
            .collect();
        for id in ids {
            if let Some(d) = self.descriptors.get_mut(&id) {
                d.active = false;
            }
            self.persist_desc(id, batch);
        }
    }

    /// Core's `TopUp`: derives descriptor `id` up to `next_index +
    /// keypool_size` and adds the scripts to the index. Returns whether
    /// the range grew (its record must then be written).
    pub(crate) fn top_up(&mut self, id: u32) -> Result<bool, WalletError> {
        let keypool = self.options.keypool_size.max(1);
        let Some(d) = self.descriptors.get(&id) else {
            return Ok(false);
        };
        if !d.is_range() {
            if d.range_end == 0 {
                let script = d.script_at(0)?;
                self.scripts
                    .insert(&script, ScriptOrigin { desc: id, index: 0 });
                if let Some(d) = self.descriptors.get_mut(&id) {
                    d.range_end = 1;
                }
                return Ok(true);
            }
            return Ok(false);
        }
        let target = d.next_index.saturating_add(keypool).max(d.range_end);
        if target <= d.range_end {
            return Ok(false);
        }
        let from = d.range_end.max(d.range_start);
        for (index, script) in d.derive_range(from, target)? {
            self.scripts
                .insert(&script, ScriptOrigin { desc: id, index });
        }
        if let Some(d) = self.descriptors.get_mut(&id) {
            d.range_end = target;
        }
        Ok(true)
    }

    /// Core's `MarkUnusedAddresses`: a script at `origin` was seen, so the
    /// next index moves past it and the range is topped up.
    pub(crate) fn mark_used(
        &mut self,
        origin: ScriptOrigin,
        batch: &mut Batch,
    ) -> Result<(), WalletError> {
        let Some(d) = self.descriptors.get_mut(&origin.desc) else {
            return Ok(());
        };
        let mut changed = false;
        if d.is_range() && d.next_index <= origin.index {
            d.next_index = origin.index + 1;
            changed = true;
        }
        changed |= self.top_up(origin.desc)?;
        if changed {
            self.persist_desc(origin.desc, batch);
        }
        Ok(())
    }

    /// Queues descriptor `id`'s record.
    pub(crate) fn persist_desc(&self, id: u32, batch: &mut Batch) {
        if let Some(d) = self.descriptors.get(&id) {
            let rec = DescRecord {
                desc: d.desc.to_string(),
                timestamp: d.timestamp,
                range_start: d.range_start,
                range_end: d.range_end,
                next_index: d.next_index,
                active: d.active,
                internal: d.internal,
                apostrophe: d.apostrophe,
            };
            batch.descs.retain(|(k, _)| *k != id);
            batch.descs.push((id, records::encode(&rec)));
        }
    }

    /// Queues a transaction's record.
    pub(crate) fn persist_tx(&self, txid: &bitcoin::Txid, batch: &mut Batch) {
        if let Some(w) = self.ledger.get(txid) {
            use bitcoin::hashes::Hash;
            let key = txid.to_byte_array();
            batch.txs.retain(|(k, _)| *k != key);
            batch
                .txs
                .push((key, records::encode(&TxRecord::from_wtx(w))));
        }
    }

    /// The next arrival number (queued in `batch`).
    pub(crate) fn take_order(&mut self, batch: &mut Batch) -> u64 {
        let n = self.next_order;
        self.next_order += 1;
        batch.meta.retain(|(k, _)| *k != META_ORDER);
        batch
            .meta
            .push((META_ORDER, Some(records::encode(&self.next_order))));
        n
    }

    /// Adds a new transaction or updates an existing one's state, queueing
    /// its record. Returns whether it was new.
    pub(crate) fn add_or_update(
        &mut self,
        tx: bitcoin::Transaction,
        state: crate::tx::TxState,
        time_hint: Option<u64>,
        batch: &mut Batch,
    ) -> bool {
        let txid = tx.compute_txid();
        if let Some(w) = self.ledger.get_mut(&txid) {
            w.state = state;
            // A transaction first seen in a block keeps the block's time.
            self.persist_tx(&txid, batch);
            return false;
        }
        let received = now();
        let order = self.take_order(batch);
        let wtx = WalletTx {
            txid,
            tx,
            state,
            time_received: received,
            time: time_hint.map(|t| t.min(received)).unwrap_or(received),
            order,
            comment: None,
            comment_to: None,
        };
        self.ledger.insert(wtx);
        self.persist_tx(&txid, batch);
        true
    }

    /// Commits `batch` (durably unless `durable` is false).
    pub(crate) fn commit(&self, batch: &Batch, durable: bool) -> Result<(), WalletError> {
        self.store.commit(batch, durable)?;
        Ok(())
    }

    /// `backupwallet`: a consistent copy of the wallet file at `dest`.
    pub fn backup(&self, dest: &Path) -> Result<(), WalletError> {
        self.store.backup(dest)?;
        Ok(())
    }

    /// Private keys of every descriptor (fails with `Locked`).
    #[allow(dead_code)]
    pub(crate) fn keymaps(&mut self) -> Result<&HashMap<u32, KeyMap>, WalletError> {
        if self.settings.disable_private_keys {
            return Err(WalletError::NoPrivateKeys(
                "Error: Private keys are disabled for this wallet".into(),
            ));
        }
        self.keys.all(now())
    }

    /// `encryptwallet`: encrypts every private key under `passphrase`; the
    /// wallet is locked afterwards. Core's errors for a wallet without
    /// private keys (-16) or one already encrypted (-15).
    pub fn encrypt(&mut self, passphrase: &str) -> Result<(), WalletError> {
        if self.settings.disable_private_keys {
            return Err(WalletError::Other(
                "Error: wallet does not contain private keys, nothing to encrypt.".into(),
            ));
        }
        let keys = self.keys.all(now())?;
        let mut texts = HashMap::new();
        for (id, km) in keys {
            if let Some(d) = self.descriptors.get(id) {
                texts.insert(*id, d.private_string(km));
            }
        }
        let rounds = self.kdf_rounds();
        let (record, sealed) = self.keys.encrypt(passphrase, rounds, &texts)?;
        let mut batch = Batch::default();
        batch
            .meta
            .push((META_MASTER_KEY, Some(records::encode(&record))));
        for (id, s) in sealed {
            batch.secrets.push((id, records::encode(&s)));
        }
        self.commit(&batch, true)
    }

    fn kdf_rounds(&self) -> u32 {
        if self.options.kdf_calibrate {
            crate::crypto::calibrate(self.options.kdf_min_rounds)
        } else {
            self.options.kdf_min_rounds.max(1)
        }
    }

    /// `walletpassphrase`: unlocks for `timeout` seconds.
    pub fn unlock(&mut self, passphrase: &str, timeout: u64) -> Result<(), WalletError> {
        self.keys.unlock(passphrase, now().saturating_add(timeout))
    }

    /// `walletlock`.
    pub fn lock(&mut self) -> Result<(), WalletError> {
        if !self.keys.is_encrypted() {
            return Err(WalletError::WrongEncryptionState(
                "Error: running with an unencrypted wallet, but walletlock was called.".into(),
            ));
        }
        self.keys.lock();
        Ok(())
    }

    /// Unix time until which the wallet stays unlocked (0 when locked).
    pub fn unlocked_until(&mut self) -> u64 {
        self.keys.unlocked_until(now())
    }

    /// `walletpassphrasechange`.
    pub fn change_passphrase(&mut self, old: &str, new: &str) -> Result<(), WalletError> {
        let rounds = self.kdf_rounds();
        let record = self.keys.change_passphrase(old, new, rounds)?;
        let mut batch = Batch::default();
        batch
            .meta
            .push((META_MASTER_KEY, Some(records::encode(&record))));
        self.commit(&batch, true)
    }

    /// Sets or removes the label of a script (queued and committed).
    pub fn set_label(
        &mut self,
        script: &ScriptBuf,
        label: Option<&str>,
    ) -> Result<(), WalletError> {
        let mut batch = Batch::default();
        match label {
            Some(l) => {
                self.labels.insert(script.clone(), l.to_owned());
                batch.labels.push((script.to_bytes(), Some(l.to_owned())));
            }
            None => {
                self.labels.remove(script);
                batch.labels.push((script.to_bytes(), None));
            }
        }
        self.commit(&batch, true)
    }

    /// Whether any descriptor of the wallet has private keys.
    pub fn has_private_keys(&self) -> bool {
        self.descriptors.keys().any(|id| self.keys.has_keys(*id))
    }
}
