//! The flags of a Parquet export: row-group bounds and compression.

use clap::Args;
use xp_export::export::{
    DEFAULT_ROW_GROUP_BYTES, DEFAULT_ROW_GROUP_ROWS, ParquetCompression, ParquetOptions,
};

/// The largest row group a flag may ask for, rows or bytes: 2^30.
const MAX_ROW_GROUP: u64 = 1 << 30;

/// How a Parquet output is written.
#[derive(Args, Debug, Clone)]
pub struct ParquetArgs {
    /// Parquet: rows gathered into a row group before it is written (at a page boundary); also
    /// the most a resume fetches again.
    #[arg(long, default_value_t = DEFAULT_ROW_GROUP_ROWS as u64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_ROW_GROUP))]
    row_group_rows: u64,
    /// Parquet: bytes of rows (as the server sent them) gathered into a row group before it is
    /// written, whichever of this and --row-group-rows comes first; bounds memory.
    #[arg(long, default_value_t = DEFAULT_ROW_GROUP_BYTES as u64, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..=MAX_ROW_GROUP))]
    row_group_bytes: u64,
    /// Parquet: zstd (level 3), zstd:LEVEL (1 to 22) or uncompressed.
    #[arg(long, default_value = "zstd", value_name = "CODEC")]
    parquet_compression: ParquetCompression,
}

impl ParquetArgs {
    /// The options the flags ask for.
    pub fn options(&self) -> ParquetOptions {
        let mut options = ParquetOptions::default();
        // Both are at most 2^30 by their parsers, so they fit a usize.
        options.row_group_rows = usize::try_from(self.row_group_rows).unwrap_or(usize::MAX);
        options.row_group_bytes = usize::try_from(self.row_group_bytes).unwrap_or(usize::MAX);
        options.compression = self.parquet_compression;
        options
    }
}
