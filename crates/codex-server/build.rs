//! Rebuilds the crate when a file of the web UI changes or is added: the UI is embedded with
//! `rust-embed`, which tracks the files it found but not new ones.

fn main() {
    println!("cargo::rerun-if-changed=../../web/index.html");
    println!("cargo::rerun-if-changed=../../web/app.css");
    println!("cargo::rerun-if-changed=../../web/src");
    println!("cargo::rerun-if-changed=../../web/vendor");
}
