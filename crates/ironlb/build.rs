//! Link order of the `ironlb` binary: the functions `ironlb bgp announce` runs
//! (`symbol-order.txt`, written by `scripts/symbol-order`) go first, next to each other.
//!
//! The kernel maps a binary's pages in blocks around each one first touched (fault-around,
//! 64 KiB and more), so ~500 functions scattered over 15 MB of code cost 5 MiB of resident
//! memory; placed together they cost 0.7 MiB. Only the layout changes, not the code. Names the
//! binary no longer has (after a Rust or dependency upgrade) are ignored; the bgp_frr bench
//! shows the binary's resident pages growing back then.
//!
//! Applied where rustc links with its own lld (x86_64-unknown-linux-gnu, the default since
//! Rust 1.90) and no other linker is configured; `IRONLB_SYMBOL_ORDER=off` leaves it out.

fn main() {
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-env-changed=IRONLB_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let variable = |name: &str| std::env::var(name).unwrap_or_default();
    let other_linker = !variable("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_empty()
        || variable("CARGO_ENCODED_RUSTFLAGS")
            .split('\x1f')
            .any(|flag| flag.contains("linker"));
    if variable("TARGET") != "x86_64-unknown-linux-gnu"
        || other_linker
        || variable("IRONLB_SYMBOL_ORDER") == "off"
    {
        return;
    }
    let order = std::path::Path::new(&variable("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    // The linker reads a copy in OUT_DIR: cargo may reuse this script's output for another
    // checkout sharing the target directory (a git worktree), which must not name a file of
    // a checkout that may be gone by then.
    let copy = std::path::Path::new(&variable("OUT_DIR")).join("symbol-order.txt");
    if order.exists() && std::fs::copy(&order, &copy).is_ok() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            copy.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
