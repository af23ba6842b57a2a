//! The asset taxonomy: asset classes and subclasses, fiat currencies and minor units,
//! exchanges (MIC, vendor suffixes and codes), crypto assets with their exchange symbols and
//! CoinGecko ids, and known listings. Shipped as `connectors/assets/taxonomy.toml`; an
//! operator file is merged over it (same key replaces, new entries are added).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::symbol::{self, SymbolError};
use crate::ConnectorError;
use crate::market::Instrument;
use crate::types::AssetClass;

const BUILTIN: &str = include_str!("../../assets/taxonomy.toml");

/// An asset class and its subclasses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetClassDef {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub subclasses: Vec<SubclassDef>,
}

/// A subclass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubclassDef {
    pub id: String,
    pub name: String,
}

/// A currency quoted in minor units (`GBX`, `GBp` pence) and its major unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinorUnitDef {
    pub code: String,
    pub major: String,
}

/// An exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeDef {
    /// ISO 10383 MIC.
    pub mic: String,
    pub name: String,
    #[serde(default)]
    pub country: Option<String>,
    /// Trading currency (major unit).
    #[serde(default)]
    pub currency: Option<String>,
    /// Yahoo ticker suffix (`L` for `VOD.L`); none for US listings.
    #[serde(default)]
    pub yahoo_suffix: Option<String>,
    /// Alpha Vantage ticker suffix (`LON` for `VOD.LON`).
    #[serde(default)]
    pub alpha_vantage_suffix: Option<String>,
    /// Other names and vendor codes for it (`NASDAQ`, Yahoo's `NMS`).
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A crypto asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoAssetDef {
    /// Canonical symbol (`BTC`).
    pub symbol: String,
    pub name: String,
    #[serde(default)]
    pub subclass: Option<String>,
    /// Other exchange symbols (`XBT`, `XXBT`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The CoinGecko coin id chosen for this symbol.
    #[serde(default)]
    pub coingecko_id: Option<String>,
    /// Appears as the quote side of pairs (`BTCUSDT`).
    #[serde(default)]
    pub quote_asset: bool,
}

/// A known listing: fixes the exchange and class of a plain ticker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingDef {
    pub symbol: String,
    pub mic: String,
    pub class: AssetClass,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxonomyFile {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    fiat: Vec<String>,
    #[serde(default)]
    minor_units: Vec<MinorUnitDef>,
    #[serde(default)]
    classes: Vec<AssetClassDef>,
    #[serde(default)]
    exchanges: Vec<ExchangeDef>,
    #[serde(default)]
    crypto: Vec<CryptoAssetDef>,
    #[serde(default)]
    listings: Vec<ListingDef>,
}

impl TaxonomyFile {
    fn parse(text: &str, origin: &str) -> Result<Self, ConnectorError> {
        let file: Self = toml::from_str(text).map_err(|e| {
            ConnectorError::invalid_config("taxonomy", format!("{origin}: {}", e.message()))
        })?;
        if let Some(version) = file.version
            && version != 1
        {
            return Err(ConnectorError::invalid_config(
                "taxonomy",
                format!("{origin}: unsupported version {version}"),
            ));
        }
        Ok(file)
    }

    /// `over`'s entries replace same-key entries of `self` and add new ones.
    fn merge(mut self, over: Self) -> Self {
        fn upsert<T, K: PartialEq>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> K) {
            let k = key(&item);
            match list.iter_mut().find(|existing| key(existing) == k) {
                Some(existing) => *existing = item,
                None => list.push(item),
            }
        }
        for code in over.fiat {
            if !self.fiat.iter().any(|c| c.eq_ignore_ascii_case(&code)) {
                self.fiat.push(code);
            }
        }
        for item in over.minor_units {
            upsert(&mut self.minor_units, item, |m| m.code.clone());
        }
        for item in over.classes {
            upsert(&mut self.classes, item, |c| c.id.clone());
        }
        for item in over.exchanges {
            upsert(&mut self.exchanges, item, |e| e.mic.to_ascii_uppercase());
        }
        for item in over.crypto {
            upsert(&mut self.crypto, item, |c| c.symbol.to_ascii_uppercase());
        }
        for item in over.listings {
            upsert(&mut self.listings, item, |l| {
                (l.symbol.to_ascii_uppercase(), l.mic.to_ascii_uppercase())
            });
        }
        self
    }
}

/// The loaded taxonomy with its look-up indexes.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    file: TaxonomyFile,
    fiat: HashSet<String>,
    minor: HashMap<String, String>,
    exchange_by_code: HashMap<String, usize>,
    exchange_by_yahoo_suffix: HashMap<String, usize>,
    exchange_by_av_suffix: HashMap<String, usize>,
    crypto_by_symbol: HashMap<String, usize>,
    listings_by_symbol: HashMap<String, Vec<usize>>,
}

impl Taxonomy {
    /// The shipped taxonomy.
    ///
    /// # Errors
    /// `InvalidConfig { field: "taxonomy" }` if the shipped file is broken (a test guards it).
    pub fn builtin() -> Result<Self, ConnectorError> {
        Self::build(TaxonomyFile::parse(BUILTIN, "built-in taxonomy")?)
    }

    /// The shipped taxonomy, with the operator's file merged over it when given.
    ///
    /// # Errors
    /// `InvalidConfig { field: "taxonomy" }` when the file cannot be read, is not valid TOML
    /// of the expected shape, or makes an alias ambiguous.
    pub fn load(override_path: Option<&Path>) -> Result<Self, ConnectorError> {
        let base = TaxonomyFile::parse(BUILTIN, "built-in taxonomy")?;
        let file = match override_path {
            None => base,
            Some(path) => {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConnectorError::invalid_config("taxonomy", format!("{origin}: {e}"))
                })?;
                base.merge(TaxonomyFile::parse(&text, &origin)?)
            }
        };
        Self::build(file)
    }

    /// The shipped taxonomy with `text` (TOML of the same shape) merged over it.
    ///
    /// # Errors
    /// As [`Taxonomy::load`].
    pub fn with_override_str(text: &str) -> Result<Self, ConnectorError> {
        let base = TaxonomyFile::parse(BUILTIN, "built-in taxonomy")?;
        Self::build(base.merge(TaxonomyFile::parse(text, "override")?))
    }

    fn build(file: TaxonomyFile) -> Result<Self, ConnectorError> {
        let ambiguous = |what: &str, code: &str| {
            ConnectorError::invalid_config("taxonomy", format!("{what} {code:?} is ambiguous"))
        };
        let fiat = file.fiat.iter().map(|c| c.to_ascii_uppercase()).collect();
        let minor = file
            .minor_units
            .iter()
            .map(|m| (m.code.clone(), m.major.to_ascii_uppercase()))
            .collect();
        let mut exchange_by_code = HashMap::new();
        let mut exchange_by_yahoo_suffix = HashMap::new();
        let mut exchange_by_av_suffix = HashMap::new();
        for (i, ex) in file.exchanges.iter().enumerate() {
            for code in std::iter::once(&ex.mic).chain(&ex.aliases) {
                if let Some(other) = exchange_by_code.insert(code.to_ascii_uppercase(), i)
                    && other != i
                {
                    return Err(ambiguous("exchange code", code));
                }
            }
            if let Some(s) = &ex.yahoo_suffix
                && exchange_by_yahoo_suffix
                    .insert(s.to_ascii_uppercase(), i)
                    .is_some()
            {
                return Err(ambiguous("Yahoo suffix", s));
            }
            if let Some(s) = &ex.alpha_vantage_suffix
                && exchange_by_av_suffix
                    .insert(s.to_ascii_uppercase(), i)
                    .is_some()
            {
                return Err(ambiguous("Alpha Vantage suffix", s));
            }
        }
        let mut crypto_by_symbol = HashMap::new();
        for (i, asset) in file.crypto.iter().enumerate() {
            for code in std::iter::once(&asset.symbol).chain(&asset.aliases) {
                if let Some(other) = crypto_by_symbol.insert(code.to_ascii_uppercase(), i)
                    && other != i
                {
                    return Err(ambiguous("crypto symbol", code));
                }
            }
        }
        let mut listings_by_symbol: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, listing) in file.listings.iter().enumerate() {
            listings_by_symbol
                .entry(listing.symbol.to_ascii_uppercase())
                .or_default()
                .push(i);
        }
        Ok(Self {
            file,
            fiat,
            minor,
            exchange_by_code,
            exchange_by_yahoo_suffix,
            exchange_by_av_suffix,
            crypto_by_symbol,
            listings_by_symbol,
        })
    }

    /// Asset classes and their subclasses.
    #[must_use]
    pub fn classes(&self) -> &[AssetClassDef] {
        &self.file.classes
    }

    /// Every exchange.
    #[must_use]
    pub fn exchanges(&self) -> &[ExchangeDef] {
        &self.file.exchanges
    }

    /// Every crypto asset.
    #[must_use]
    pub fn crypto_assets(&self) -> &[CryptoAssetDef] {
        &self.file.crypto
    }

    /// Whether `code` is a known fiat currency (ISO 4217, case-insensitive).
    #[must_use]
    pub fn is_fiat(&self, code: &str) -> bool {
        code.len() == 3 && self.fiat.contains(&code.to_ascii_uppercase())
    }

    /// An exchange by MIC, name or vendor code (`XLON`, `LSE`, `NMS`).
    #[must_use]
    pub fn exchange(&self, code: &str) -> Option<&ExchangeDef> {
        let i = self
            .exchange_by_code
            .get(&code.trim().to_ascii_uppercase())?;
        self.file.exchanges.get(*i)
    }

    /// An exchange by ticker suffix, Yahoo's (`L`, `DE`) or Alpha Vantage's (`LON`, `DEX`).
    #[must_use]
    pub fn exchange_by_suffix(&self, suffix: &str) -> Option<&ExchangeDef> {
        let suffix = suffix.to_ascii_uppercase();
        let i = self
            .exchange_by_yahoo_suffix
            .get(&suffix)
            .or_else(|| self.exchange_by_av_suffix.get(&suffix))?;
        self.file.exchanges.get(*i)
    }

    /// A crypto asset by symbol or alias (`BTC`, `XBT`, `XXBT`).
    #[must_use]
    pub fn crypto(&self, symbol: &str) -> Option<&CryptoAssetDef> {
        let i = self.crypto_by_symbol.get(&symbol.to_ascii_uppercase())?;
        self.file.crypto.get(*i)
    }

    /// A known listing of `symbol`, on `mic` when given.
    #[must_use]
    pub fn listing(&self, symbol: &str, mic: Option<&str>) -> Option<&ListingDef> {
        self.listings_by_symbol
            .get(&symbol.to_ascii_uppercase())?
            .iter()
            .filter_map(|i| self.file.listings.get(*i))
            .find(|l| mic.is_none_or(|m| l.mic.eq_ignore_ascii_case(m)))
    }

    /// Converts an amount quoted in a minor unit (`GBp`, `GBX` pence) to the major unit;
    /// other currencies are returned upper-cased and unchanged.
    #[must_use]
    pub fn to_major_unit(&self, amount: Decimal, currency: &str) -> (Decimal, String) {
        match self.minor.get(currency.trim()) {
            Some(major) => ((amount / Decimal::ONE_HUNDRED).normalize(), major.clone()),
            None => (amount, currency.trim().to_ascii_uppercase()),
        }
    }

    /// Resolves user or vendor input (`AAPL`, `VOD.L`, `BTC/USDT`, `XXBTZUSD`, `EURUSD=X`,
    /// `EQUITY:XNAS:AAPL`) into an instrument with a stable asset id. `hint` (the class the
    /// caller knows, e.g. a holding's) settles ambiguous input: without it, a known crypto
    /// symbol (`SOL`) is crypto and six letters of two fiat codes (`EURUSD`) are FX.
    ///
    /// # Errors
    /// [`SymbolError`] for empty, over-long or malformed input and unknown exchange
    /// suffixes or currencies.
    pub fn resolve(
        &self,
        input: &str,
        hint: Option<AssetClass>,
    ) -> Result<Instrument, SymbolError> {
        symbol::resolve(self, input, hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn builtin() -> Taxonomy {
        Taxonomy::builtin().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_shipped_taxonomy_loads_and_indexes_its_entries() {
        let tax = builtin();
        assert!(tax.classes().iter().any(|c| c.id == "crypto"));
        assert_eq!(tax.exchange("lse").map(|e| e.mic.as_str()), Some("XLON"));
        assert_eq!(tax.exchange("NMS").map(|e| e.mic.as_str()), Some("XNAS"));
        assert_eq!(
            tax.exchange_by_suffix("de").map(|e| e.mic.as_str()),
            Some("XETR")
        );
        assert_eq!(
            tax.exchange_by_suffix("LON").map(|e| e.mic.as_str()),
            Some("XLON")
        );
        assert_eq!(tax.crypto("xxbt").map(|c| c.symbol.as_str()), Some("BTC"));
        assert_eq!(
            tax.crypto("ETH").and_then(|c| c.coingecko_id.as_deref()),
            Some("ethereum")
        );
        assert!(tax.is_fiat("eur"));
        assert!(!tax.is_fiat("BTC"));
        assert_eq!(
            tax.listing("VTI", None).map(|l| (l.mic.as_str(), l.class)),
            Some(("ARCX", AssetClass::Etf))
        );
    }

    #[test]
    fn pence_become_pounds() {
        let tax = builtin();
        assert_eq!(
            tax.to_major_unit(dec!(7250), "GBp"),
            (dec!(72.5), "GBP".to_owned())
        );
        assert_eq!(
            tax.to_major_unit(dec!(72.5), "GBP"),
            (dec!(72.5), "GBP".to_owned())
        );
        assert_eq!(
            tax.to_major_unit(dec!(1), "usd"),
            (dec!(1), "USD".to_owned())
        );
    }

    #[test]
    fn an_override_replaces_and_adds_entries() {
        let tax = Taxonomy::with_override_str(
            r#"
            fiat = ["XAU"]
            [[crypto]]
            symbol = "PEPE"
            name = "Pepe"
            coingecko_id = "pepe"
            [[crypto]]
            symbol = "SOL"
            name = "Solana"
            coingecko_id = "solana-custom"
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tax.crypto("PEPE").map(|c| c.name.as_str()), Some("Pepe"));
        assert_eq!(
            tax.crypto("SOL").and_then(|c| c.coingecko_id.as_deref()),
            Some("solana-custom")
        );
        assert!(tax.crypto("BTC").is_some());
        assert!(tax.is_fiat("XAU"));
    }

    #[test]
    fn a_broken_or_ambiguous_override_is_an_invalid_config() {
        for text in [
            "not toml = = 1",
            "[[crypto]]\nsymbol = \"ZZZ\"\nname = \"Z\"\naliases = [\"BTC\"]",
            "unknown_key = 1",
            "version = 2",
        ] {
            assert!(
                matches!(
                    Taxonomy::with_override_str(text),
                    Err(ConnectorError::InvalidConfig { ref field, .. }) if field == "taxonomy"
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn load_reads_an_override_file_and_reports_a_missing_one() {
        let dir = std::env::temp_dir().join(format!("tributary-tax-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("taxonomy.toml");
        let _ = std::fs::write(
            &path,
            "[[crypto]]\nsymbol = \"WIF\"\nname = \"dogwifhat\"\n",
        );
        let tax = Taxonomy::load(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
        assert!(tax.crypto("WIF").is_some());
        let _ = std::fs::remove_dir_all(&dir);
        assert!(Taxonomy::load(Some(Path::new("/nonexistent/taxonomy.toml"))).is_err());
        assert!(Taxonomy::load(None).is_ok());
    }
}
