//! Compiles the sample payloads of the workspace's `events/` folder into the
//! binary: `$OUT_DIR/samples.rs` holds one `(provider, event, bytes)` entry
//! per `events/<provider>/<event>.json` of the five providers, sorted.
//! `LIVEHOOK_EVENTS_DIR` points the build at another folder.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const PROVIDERS: [&str; 5] = ["tencent", "aodianyun", "bililive", "lal", "apiserver"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LIVEHOOK_EVENTS_DIR");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dir = std::env::var_os("LIVEHOOK_EVENTS_DIR")
        .map_or_else(|| manifest.join("..").join("events"), PathBuf::from);
    // A directory is scanned for any change below it (new, removed, edited files).
    println!("cargo:rerun-if-changed={}", dir.display());

    let mut entries = Vec::new();
    for provider in PROVIDERS {
        let folder = dir.join(provider);
        let Ok(read) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in read.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") || !path.is_file() {
                continue;
            }
            let Some(event) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            entries.push((provider, event.to_owned(), absolute(&path)));
        }
    }
    entries.sort();

    let mut out = String::from(
        "/// `(provider, event, body)` of every compiled-in sample, sorted.\n\
         pub static SAMPLES: &[(&str, &str, &[u8])] = &[\n",
    );
    for (provider, event, path) in &entries {
        writeln!(
            out,
            "    ({provider:?}, {event:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out_dir.join("samples.rs"), out).expect("writing samples.rs");
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
