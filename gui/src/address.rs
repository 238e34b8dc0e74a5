//! Address checks done in the GUI, before anything is sent to the node:
//! syntax, checksum and network (Core's GUI validates the same way,
//! locally).

use std::str::FromStr;

use bitcoin::{Address, Network};

/// Why an address can't be paid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("Enter a Bitcoin address.")]
    Empty,
    #[error("The recipient address is not valid.")]
    Invalid,
    #[error("This address is for another network than {0}.")]
    WrongNetwork(String),
}

/// Core's chain name (`main`, `test`, `testnet4`, `signet`, `regtest`) as
/// a network.
pub fn network_of(chain: &str) -> Option<Network> {
    Network::from_core_arg(chain).ok()
}

/// Checks `text` as an address to pay on `chain`.
pub fn validate(text: &str, chain: &str) -> Result<Address, AddressError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(AddressError::Empty);
    }
    let unchecked = Address::from_str(t).map_err(|_| AddressError::Invalid)?;
    let Some(net) = network_of(chain) else {
        // Unknown chain name: accept any valid address; the node decides.
        return Ok(unchecked.assume_checked());
    };
    unchecked
        .require_network(net)
        .map_err(|_| AddressError::WrongNetwork(chain.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: &str = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
    const REGTEST: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

    #[test]
    fn checks_syntax_and_network() {
        assert!(validate(MAIN, "main").is_ok());
        assert!(validate(REGTEST, "regtest").is_ok());
        assert_eq!(
            validate(MAIN, "regtest").unwrap_err(),
            AddressError::WrongNetwork("regtest".into())
        );
        assert_eq!(
            validate("bcrt1qnotanaddress", "regtest").unwrap_err(),
            AddressError::Invalid
        );
        assert_eq!(validate("  ", "regtest").unwrap_err(), AddressError::Empty);
        // A checksum error is invalid, not another network.
        let mut bad = REGTEST.to_string();
        bad.pop();
        bad.push('1');
        assert_eq!(
            validate(&bad, "regtest").unwrap_err(),
            AddressError::Invalid
        );
    }
}
