//! The normalization layer: stable asset ids, symbol normalization (exchange suffixes, crypto
//! pairs, FX pairs) and the asset taxonomy shipped with the binary.

pub mod asset_id;
mod symbol;
pub mod taxonomy;

pub use symbol::SymbolError;
pub use taxonomy::{
    AssetClassDef, CryptoAssetDef, ExchangeDef, ListingDef, MinorUnitDef, SubclassDef, Taxonomy,
};
