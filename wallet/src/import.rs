//! Adding descriptors to the wallet (Core's `AddWalletDescriptor`, the
//! wallet side of `importdescriptors`).

use miniscript::descriptor::KeyMap;
use miniscript::Descriptor;

use crate::descriptor::WalletDescriptor;
use crate::error::WalletError;
use crate::records;
use crate::store::Batch;
use crate::wallet::{now, Wallet};

/// A descriptor to import, already parsed and checked.
pub struct Import {
    /// The descriptor.
    pub desc: Descriptor<miniscript::DescriptorPublicKey>,
    /// Its private keys (may be empty).
    pub keys: KeyMap,
    /// Whether `'` was used for hardened steps.
    pub apostrophe: bool,
    /// Creation time for rescans.
    pub timestamp: u64,
    /// `[start, end)` for ranged descriptors.
    pub range: Option<(u32, u32)>,
    /// Next index to hand out.
    pub next_index: Option<u32>,
    /// Make it the active descriptor of its type and branch.
    pub active: bool,
    /// Change branch.
    pub internal: bool,
    /// Label for a non-ranged, non-internal descriptor's script.
    pub label: Option<String>,
}

impl Wallet {
    /// Adds (or updates, when the same descriptor is there) a descriptor:
    /// derives its range, stores its keys (encrypted if the wallet is) and
    /// makes it active if asked, in one durable commit. Returns its id.
    pub fn import_descriptor(&mut self, imp: Import) -> Result<u32, WalletError> {
        if !imp.keys.is_empty() && self.settings.disable_private_keys {
            return Err(WalletError::Other(
                "Cannot import private keys to a wallet with private keys disabled".into(),
            ));
        }
        let text = imp.desc.to_string();
        let existing = self
            .descriptors
            .values()
            .find(|d| d.desc.to_string() == text)
            .map(|d| d.id);
        let mut batch = Batch::default();
        let id = match existing {
            Some(id) => id,
            None => {
                let id = self.next_desc;
                self.next_desc += 1;
                batch.meta.push((
                    records::META_NEXT_DESC,
                    Some(records::encode(&self.next_desc)),
                ));
                id
            }
        };
        let (start, end) = imp.range.unwrap_or((0, 0));
        let next = imp.next_index.unwrap_or(start);
        let mut wd = WalletDescriptor::new(
            id,
            imp.desc,
            imp.timestamp,
            start,
            start,
            next,
            false,
            imp.internal,
            imp.apostrophe,
        );
        if let Some(old) = self.descriptors.get(&id) {
            wd.range_start = old.range_start.min(start);
            wd.range_end = old.range_end.max(wd.range_start);
            wd.next_index = old.next_index.max(next);
            wd.timestamp = old.timestamp.min(imp.timestamp);
        }
        if !imp.keys.is_empty() {
            let private = wd.private_string(&imp.keys);
            let secret = self.keys.add(id, imp.keys, &private, now())?;
            batch.secrets.push((id, records::encode(&secret)));
        }
        let output_type = wd.output_type();
        let is_range = wd.is_range();
        self.descriptors.insert(id, wd);
        if imp.active {
            if let Some(ty) = output_type {
                self.deactivate_others(ty, imp.internal, &mut batch);
                if let Some(d) = self.descriptors.get_mut(&id) {
                    d.active = true;
                }
            }
        }
        // Derive the requested range, then the keypool beyond the next index.
        if is_range {
            let (from, to) = {
                let d = &self.descriptors[&id];
                (d.range_end, end.max(d.range_end))
            };
            let scripts = self.descriptors[&id].derive_range(from, to)?;
            for (index, script) in scripts {
                self.scripts
                    .insert(&script, crate::index::ScriptOrigin { desc: id, index });
            }
            if let Some(d) = self.descriptors.get_mut(&id) {
                d.range_end = to;
            }
            if imp.active {
                self.top_up(id)?;
            }
        } else {
            self.top_up(id)?;
        }
        if let Some(label) = imp.label {
            if !is_range {
                let script = self.descriptors[&id].script_at(0)?;
                self.labels.insert(script.clone(), label.clone());
                batch.labels.push((script.to_bytes(), Some(label)));
            }
        }
        self.persist_desc(id, &mut batch);
        self.rebuild_outpoints();
        self.commit(&batch, true)?;
        Ok(id)
    }
}
