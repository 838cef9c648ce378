//! WebAssembly plugins: `<name>_plugin.wasm` run sandboxed by Extism.
