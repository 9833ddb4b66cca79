//! Compiles the sample payloads of the workspace's `events/` folder into the
//! binary: `$OUT_DIR/samples.rs` holds one `(provider, event, bytes)` entry
//! per `events/<provider>/<event>.json`, sorted: every folder of `events/`
//! but `apigw/` (API Gateway events, not payloads). Which folders are
//! providers is the registry's business: the CLI shows only those.
//! `LIVEHOOK_EVENTS_DIR` points the build at another folder.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Folders of `events/` that hold no provider payloads.
const NOT_PROVIDERS: [&str; 1] = ["apigw"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LIVEHOOK_EVENTS_DIR");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dir = std::env::var_os("LIVEHOOK_EVENTS_DIR")
        .map_or_else(|| manifest.join("..").join("events"), PathBuf::from);
    // A directory is scanned for any change below it (new, removed, edited files).
    println!("cargo:rerun-if-changed={}", dir.display());

    let mut providers: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((e.file_name().to_str()?.to_owned(), e.path())))
        .filter(|(name, _)| !NOT_PROVIDERS.contains(&name.as_str()))
        .collect();
    providers.sort();

    let mut entries = Vec::new();
    for (provider, folder) in &providers {
        let Ok(read) = std::fs::read_dir(folder) else {
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
            entries.push((provider.clone(), event.to_owned(), absolute(&path)));
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
