//! The `tributary` binary: parse the command line and hand over to the library.

use clap::Parser;

/// mimalloc instead of glibc's malloc: a large import allocates and frees records on several
/// threads, and glibc's per-thread arenas kept the freed memory (peak RSS of a 1M-row import and
/// its re-import: 323 MiB with glibc, see `scripts/bench-import.sh`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = tributary_api::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tributary_api::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
