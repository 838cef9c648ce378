//! Settings: defaults, the file, checks, and the keys they name when wrong.

use super::*;

fn parse(toml: &str) -> anyhow::Result<Settings> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("c.toml");
    std::fs::write(&path, toml)?;
    let (file, source) = read(Some(&path))?;
    check(file, source)
}

#[test]
fn defaults_need_no_file() {
    let settings = check(FileConfig::default(), None).unwrap();
    assert_eq!(settings.bind.to_string(), "127.0.0.1:8000");
    assert_eq!(settings.host.aliases["interpreter"], "shell");
    assert_eq!(settings.host.limits.timeout_ms, 30_000);
    assert_eq!(settings.database_url, "sqlite://codexcontinue.db");
    assert_eq!(settings.server.short_limit, 20);
    assert_eq!(settings.sqlite_commit_delay, Duration::from_micros(500));
    assert_eq!(settings.sqlite_commit_siblings, 5);
}

#[test]
fn the_commit_delay_is_configurable() {
    let s = parse("sqlite_commit_delay_us = 0\n").unwrap();
    assert_eq!(s.sqlite_commit_delay, Duration::ZERO);
    let s = parse("sqlite_commit_delay_us = 1500\n").unwrap();
    assert_eq!(s.sqlite_commit_delay, Duration::from_micros(1500));
    assert!(parse("sqlite_commit_delay_us = -1\n").is_err());
    let s = parse("sqlite_commit_siblings = 2\n").unwrap();
    assert_eq!(s.sqlite_commit_siblings, 2);
    let s = parse("sqlite_commit_siblings = 0\n").unwrap();
    assert_eq!(s.sqlite_commit_siblings, 1, "at least one");
}

#[test]
fn database_and_memory_are_configurable_and_checked() {
    let s = parse("database_url = \"postgres://u@h/db\"\n[memory]\nshort_limit = 5\n").unwrap();
    assert_eq!(s.database_url, "postgres://u@h/db");
    assert_eq!(s.server.short_limit, 5);
    let err = parse("database_url = \"mysql://h/db\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unsupported database url"), "{err}");
    let err = parse("[memory]\nshort_limit = 0").unwrap_err().to_string();
    assert!(err.contains("short_limit"), "{err}");
    let err = parse("[memory]\nshort = 5").unwrap_err().to_string();
    assert!(err.contains("short"), "{err}");
}

#[test]
fn mcp_servers_are_configured_and_checked() {
    let s = parse(
        "[mcp.servers.time]\ncommand = \"mcp-server-time\"\nargs = [\"--local-timezone\", \"UTC\"]\ntools = [\"get_current_time\"]\n",
    )
    .unwrap();
    assert_eq!(s.host.mcp_servers["time"].args, ["--local-timezone", "UTC"]);
    let err = parse("[mcp.servers.time]\ncommand = \"x\"\nenv = { LD_PRELOAD = \"/evil.so\" }\n")
        .unwrap_err();
    assert!(format!("{err:#}").contains("LD_PRELOAD"), "{err:#}");
    let err = parse("[mcp.servers.time]\ncomand = \"x\"\n").unwrap_err();
    assert!(format!("{err:#}").contains("comand"), "{err:#}");
}

#[test]
fn unknown_key_is_named() {
    let err = parse("bnd = \"127.0.0.1:1\"").unwrap_err().to_string();
    assert!(err.contains("bnd"), "{err}");
    let err = parse("[limits]\ntimeout = 5").unwrap_err().to_string();
    assert!(err.contains("timeout"), "{err}");
    let err = parse("[plugins.shell]\nenable = true")
        .unwrap_err()
        .to_string();
    assert!(err.contains("enable"), "{err}");
}

#[test]
fn file_values_and_aliases_layer_over_defaults() {
    let s = parse(
        "bind = \"127.0.0.1:9000\"\n[aliases]\ncalc = \"calculator\"\n\
         [plugins.shell]\nenabled = true\ntimeout_ms = 500\n",
    )
    .unwrap();
    assert_eq!(s.bind.port(), 9000);
    assert_eq!(s.host.aliases["calc"], "calculator");
    assert_eq!(s.host.aliases["oi"], "shell");
    assert_eq!(s.host.plugins["shell"].enabled, Some(true));
}

#[test]
fn model_providers_form_a_checked_chain() {
    let s = check(FileConfig::default(), None).unwrap();
    assert!(s.model.providers.is_empty());
    assert_eq!(s.model.max_steps, 8);
    assert!(!s.model.system_prompt.is_empty());
    let s = parse(
        "[model]\nsystem_prompt = \"Be brief.\"\nmax_steps = 3\n\
         [[model.providers]]\nname = \"local\"\nbase_url = \"http://127.0.0.1:11434/v1\"\n\
         model = \"llama3.2\"\n\
         [[model.providers]]\nname = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\n\
         model = \"gpt-4o-mini\"\napi_key_env = \"OPENAI_API_KEY\"\ntimeout_ms = 5000\nmax_retries = 1\n\
         max_tokens = 256\n",
    )
    .unwrap();
    assert_eq!(s.model.system_prompt, "Be brief.");
    assert_eq!(s.model.max_steps, 3);
    let names: Vec<_> = s.model.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["local", "openai"]);
    assert_eq!(s.model.providers[0].timeout_ms, 60_000);
    assert_eq!(s.model.providers[0].max_retries, 2);
    assert_eq!(
        s.model.providers[1].api_key_env.as_deref(),
        Some("OPENAI_API_KEY")
    );
    assert_eq!(s.model.providers[1].timeout_ms, 5000);
    assert_eq!(s.model.providers[0].max_tokens, None);
    assert_eq!(s.model.providers[1].max_tokens, Some(256));
    let err = parse("[[model.providers]]\nname = \"x\"\nbase_url = \"ftp://h\"\nmodel = \"m\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("base_url"), "{err}");
    let err = parse("[model]\nmax_steps = 0").unwrap_err().to_string();
    assert!(err.contains("max_steps"), "{err}");
    let err = parse("[[model.providers]]\nname = \"x\"\nurl = \"http://h\"\nmodel = \"m\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("url"), "{err}");
}

#[test]
fn public_bind_needs_api_keys() {
    let err = parse("bind = \"0.0.0.0:8000\"").unwrap_err().to_string();
    assert!(err.contains("API keys"), "{err}");
    parse("bind = \"0.0.0.0:8000\"\napi_keys = [\"0123456789abcdef\"]").unwrap();
}
