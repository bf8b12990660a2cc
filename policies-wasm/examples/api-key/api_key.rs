//! The api-key example policy in Rust, against Portico's policy ABI 1.1
//! (policies-wasm/abi/README.md), built by Debian's rustc for wasm32-unknown-unknown with no crates
//! (see policies-wasm/build.ts for the command). Parameters: `keys` (comma-separated accepted keys)
//! and `header` (default x-api-key). A request whose header holds a listed key goes on without that
//! header and with `x-api-key-index: N` (the key's position, from 1); any other request is answered
//! 401 and a warning is logged.

#[link(wasm_import_module = "extism:host/env")]
extern "C" {
    fn length(block: u64) -> u64;
    fn config_get(key_block: u64) -> u64;
}

#[link(wasm_import_module = "extism:host/user")]
extern "C" {
    fn portico_block_new(pointer: u32, length: i32) -> u64;
    fn portico_block_copy(block: u64, pointer: u32);
    fn portico_request_header(name: u64) -> u64;
    fn portico_request_header_set(name: u64, value: u64);
    fn portico_request_header_remove(name: u64);
    fn portico_reply(status: i32, body: u64);
    fn portico_reply_header(name: u64, value: u64);
    fn portico_log(level: i32, message: u64);
}

/// A string in this module's memory as host functions take it (ABI 1.1): bit 63, length, pointer.
/// The bytes must stay alive until the host call returns.
fn text(value: &str) -> u64 {
    (1u64 << 63) | ((value.len() as u64) << 32) | (value.as_ptr() as u32 as u64)
}

/// A string the host returned (an Extism block), or None for block 0.
fn from_block(block: u64) -> Option<String> {
    if block == 0 {
        return None;
    }
    let mut bytes = vec![0u8; unsafe { length(block) } as usize];
    unsafe { portico_block_copy(block, bytes.as_mut_ptr() as u32) };
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn config(key: &str) -> Option<String> {
    from_block(unsafe { config_get(portico_block_new(key.as_ptr() as u32, key.len() as i32)) })
}

#[no_mangle]
pub extern "C" fn portico_abi_version() -> i32 {
    0x10001
}

#[no_mangle]
pub extern "C" fn on_request() -> i32 {
    let header = config("header").unwrap_or_else(|| "x-api-key".to_string());
    let keys = config("keys").unwrap_or_default();
    let value = from_block(unsafe { portico_request_header(text(&header)) });
    let index = value
        .filter(|v| !v.is_empty())
        .and_then(|v| keys.split(',').position(|k| k.trim_matches(|c| c == ' ' || c == '\t') == v));
    unsafe {
        match index {
            Some(i) => {
                let number = (i + 1).to_string();
                portico_request_header_remove(text(&header));
                portico_request_header_set(text("x-api-key-index"), text(&number));
            }
            None => {
                portico_log(2, text("rejected a request without a valid API key"));
                portico_reply_header(text("content-type"), text("application/json"));
                portico_reply(401, text("{\"error\":\"a valid API key is required\"}"));
            }
        }
    }
    0
}
