//! The wallet file: one redb database, `<walletdir>/<name>/wallet.redb`.
//!
//! redb rather than fjall: a wallet is small and written rarely, but each
//! write must be atomic across tables (transactions, descriptor indexes and
//! the last processed block together) and durable before an address is
//! handed out. redb gives ACID write transactions over several tables in
//! one file with an fsync'd commit (`Durability::Immediate`), MVCC read
//! transactions for a consistent `backupwallet` copy while the wallet keeps
//! working, and one file per wallet, as Core's `wallet.dat`. fjall's LSM
//! tree, journal and background compaction pay off for the node's UTXO
//! churn, not here.
//!
//! Tables: `meta` (settings, last processed block, encrypted master key,
//! order counter), `descriptors` and `secrets` (by descriptor id), `txs`
//! (by txid), `labels` (by scriptPubKey). Values are postcard-encoded
//! records ([`crate::records`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::StoreError;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const DESCS: TableDefinition<u32, &[u8]> = TableDefinition::new("descriptors");
const SECRETS: TableDefinition<u32, &[u8]> = TableDefinition::new("secrets");
const TXS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("txs");
const LABELS: TableDefinition<&[u8], &str> = TableDefinition::new("labels");

/// The file name of a wallet's database in its folder.
pub const WALLET_FILE: &str = "wallet.redb";

/// Writes that commit together.
#[derive(Debug, Default)]
pub struct Batch {
    /// Meta records to put (`Some`) or delete (`None`).
    pub meta: Vec<(&'static str, Option<Vec<u8>>)>,
    /// Descriptor records.
    pub descs: Vec<(u32, Vec<u8>)>,
    /// Secret records (private descriptors, plain or encrypted).
    pub secrets: Vec<(u32, Vec<u8>)>,
    /// Transaction records.
    pub txs: Vec<([u8; 32], Vec<u8>)>,
    /// Labels to set (`Some`) or remove (`None`), by scriptPubKey.
    pub labels: Vec<(Vec<u8>, Option<String>)>,
}

impl Batch {
    /// Whether nothing but the meta records changes.
    pub fn is_meta_only(&self) -> bool {
        self.descs.is_empty()
            && self.secrets.is_empty()
            && self.txs.is_empty()
            && self.labels.is_empty()
    }
}

/// Everything a wallet file holds.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Meta records.
    pub meta: HashMap<String, Vec<u8>>,
    /// Descriptor records by id.
    pub descs: Vec<(u32, Vec<u8>)>,
    /// Secret records by descriptor id.
    pub secrets: Vec<(u32, Vec<u8>)>,
    /// Transaction records.
    pub txs: Vec<Vec<u8>>,
    /// Labels by scriptPubKey.
    pub labels: Vec<(Vec<u8>, String)>,
}

/// An open wallet database.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Creates a new database file at `path` (which must not exist).
    pub fn create(path: &Path) -> Result<Store, StoreError> {
        if path.exists() {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} already exists", path.display()),
            )));
        }
        let db = Database::create(path)?;
        let store = Store {
            db,
            path: path.to_owned(),
        };
        store.init_tables()?;
        Ok(store)
    }

    /// Opens an existing database file.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} not found", path.display()),
            )));
        }
        let db = Database::open(path)?;
        let store = Store {
            db,
            path: path.to_owned(),
        };
        store.init_tables()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init_tables(&self) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        tx.open_table(META)?;
        tx.open_table(DESCS)?;
        tx.open_table(SECRETS)?;
        tx.open_table(TXS)?;
        tx.open_table(LABELS)?;
        tx.commit()?;
        Ok(())
    }

    /// Applies `batch` in one write transaction: all or nothing. A durable
    /// commit is on disk when this returns; a non-durable one is made
    /// durable by the next durable commit (and lost by a crash before it).
    pub fn commit(&self, batch: &Batch, durable: bool) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(if durable {
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        })?;
        {
            let mut meta = tx.open_table(META)?;
            for (k, v) in &batch.meta {
                match v {
                    Some(v) => meta.insert(*k, v.as_slice())?,
                    None => meta.remove(*k)?,
                };
            }
            let mut descs = tx.open_table(DESCS)?;
            for (k, v) in &batch.descs {
                descs.insert(*k, v.as_slice())?;
            }
            let mut secrets = tx.open_table(SECRETS)?;
            for (k, v) in &batch.secrets {
                secrets.insert(*k, v.as_slice())?;
            }
            let mut txs = tx.open_table(TXS)?;
            for (k, v) in &batch.txs {
                txs.insert(k, v.as_slice())?;
            }
            let mut labels = tx.open_table(LABELS)?;
            for (k, v) in &batch.labels {
                match v {
                    Some(v) => labels.insert(k.as_slice(), v.as_str())?,
                    None => labels.remove(k.as_slice())?,
                };
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Reads the whole file.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let tx = self.db.begin_read()?;
        let mut out = Loaded::default();
        for row in tx.open_table(META)?.iter()? {
            let (k, v) = row?;
            out.meta.insert(k.value().to_owned(), v.value().to_vec());
        }
        for row in tx.open_table(DESCS)?.iter()? {
            let (k, v) = row?;
            out.descs.push((k.value(), v.value().to_vec()));
        }
        for row in tx.open_table(SECRETS)?.iter()? {
            let (k, v) = row?;
            out.secrets.push((k.value(), v.value().to_vec()));
        }
        for row in tx.open_table(TXS)?.iter()? {
            let (_, v) = row?;
            out.txs.push(v.value().to_vec());
        }
        for row in tx.open_table(LABELS)?.iter()? {
            let (k, v) = row?;
            out.labels.push((k.value().to_vec(), v.value().to_owned()));
        }
        Ok(out)
    }

    /// Writes a consistent copy of the database to `dest` (from one read
    /// transaction, so concurrent commits are either all in it or not),
    /// through a temporary file renamed into place once synced.
    pub fn backup(&self, dest: &Path) -> Result<(), StoreError> {
        let snapshot = self.db.begin_read()?;
        let tmp = dest.with_extension("backup-tmp");
        let _ = std::fs::remove_file(&tmp);
        {
            let copy = Database::create(&tmp)?;
            let w = copy.begin_write()?;
            {
                let mut t = w.open_table(META)?;
                for row in snapshot.open_table(META)?.iter()? {
                    let (k, v) = row?;
                    t.insert(k.value(), v.value())?;
                }
                let mut t = w.open_table(DESCS)?;
                for row in snapshot.open_table(DESCS)?.iter()? {
                    let (k, v) = row?;
                    t.insert(k.value(), v.value())?;
                }
                let mut t = w.open_table(SECRETS)?;
                for row in snapshot.open_table(SECRETS)?.iter()? {
                    let (k, v) = row?;
                    t.insert(k.value(), v.value())?;
                }
                let mut t = w.open_table(TXS)?;
                for row in snapshot.open_table(TXS)?.iter()? {
                    let (k, v) = row?;
                    t.insert(k.value(), v.value())?;
                }
                let mut t = w.open_table(LABELS)?;
                for row in snapshot.open_table(LABELS)?.iter()? {
                    let (k, v) = row?;
                    t.insert(k.value(), v.value())?;
                }
            }
            w.commit()?;
        }
        std::fs::rename(&tmp, dest)?;
        Ok(())
    }
}
