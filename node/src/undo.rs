//! Undo data: the coins a block spent, in the order its inputs spend them,
//! so that disconnecting the block can put them back.

use crate::store::coin::{get_varint, put_varint};
use crate::store::{Coin, CoinDecodeError};

/// The coins spent by one block (coinbase excluded), input by input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockUndo {
    /// Spent coins in block order.
    pub spent: Vec<Coin>,
}

impl BlockUndo {
    /// `count | (length | coin)*`, each coin in the UTXO set's encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.spent.len() * 40);
        put_varint(&mut out, self.spent.len() as u64);
        let mut coin = Vec::new();
        for c in &self.spent {
            coin.clear();
            c.encode_into(&mut coin);
            put_varint(&mut out, coin.len() as u64);
            out.extend_from_slice(&coin);
        }
        out
    }

    /// Decodes [`BlockUndo::encode`].
    pub fn decode(mut b: &[u8]) -> Result<BlockUndo, CoinDecodeError> {
        let n = get_varint(&mut b)?;
        // Every coin takes at least 4 bytes; don't trust a huge count.
        let mut spent = Vec::with_capacity((n as usize).min(b.len() / 4));
        for _ in 0..n {
            let len = usize::try_from(get_varint(&mut b)?)
                .map_err(|_| CoinDecodeError::ScriptLengthOutOfRange)?;
            if len > b.len() {
                return Err(CoinDecodeError::Truncated);
            }
            spent.push(Coin::decode(&b[..len])?);
            b = &b[len..];
        }
        if !b.is_empty() {
            return Err(CoinDecodeError::TrailingBytes(b.len()));
        }
        Ok(BlockUndo { spent })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_garbage() {
        let u = BlockUndo {
            spent: vec![
                Coin {
                    height: 5,
                    coinbase: true,
                    amount: 50_0000_0000,
                    script: vec![0x51],
                },
                Coin {
                    height: 700_000,
                    coinbase: false,
                    amount: 1,
                    script: vec![0; 300],
                },
            ],
        };
        let e = u.encode();
        assert_eq!(BlockUndo::decode(&e).unwrap(), u);
        for cut in 0..e.len() {
            assert!(BlockUndo::decode(&e[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = e.clone();
        longer.push(0);
        assert!(BlockUndo::decode(&longer).is_err());
        assert!(BlockUndo::decode(&[0xff; 12]).is_err());
    }
}
