//! Embeds the built web UI (`web/dist`, made by `npm run build` in `web/`) into the server.
//!
//! Writes `$OUT_DIR/ui_assets.rs`: one entry per file with its bytes and, for text files, a
//! gzip-compressed copy made here once rather than on every request. Without `web/dist` the list
//! is empty and the server answers `/` with a page that says how to build the UI.
//! `CAIRN_WEB_DIST` points at another folder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn compressible(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("html" | "js" | "css" | "svg" | "json" | "map" | "txt" | "wasm")
    )
}

fn main() {
    println!("cargo:rerun-if-env-changed=CAIRN_WEB_DIST");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let dist = env::var_os("CAIRN_WEB_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../web/dist"));
    println!("cargo:rerun-if-changed={}", dist.display());
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));

    let mut found = Vec::new();
    files(&dist, &mut found);
    let mut code = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (index, path) in found.iter().enumerate() {
        let relative = path.strip_prefix(&dist).expect("below dist");
        let url = format!(
            "/{}",
            relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        );
        let absolute = fs::canonicalize(path).expect("canonical asset path");
        let gzip = if compressible(path) {
            let bytes = fs::read(path).expect("read asset");
            let gz_path = out_dir.join(format!("asset-{index}.gz"));
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(&bytes).expect("gzip");
            fs::write(&gz_path, encoder.finish().expect("gzip")).expect("write gzip");
            format!("Some(include_bytes!({:?}))", gz_path.display().to_string())
        } else {
            "None".to_string()
        };
        code.push_str(&format!(
            "    Asset {{ path: {url:?}, bytes: include_bytes!({:?}), gzip: {gzip} }},\n",
            absolute.display().to_string()
        ));
    }
    code.push_str("];\n");
    fs::write(out_dir.join("ui_assets.rs"), code).expect("write ui_assets.rs");
}
