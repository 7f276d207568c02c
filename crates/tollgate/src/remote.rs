//! `tollgate fault …` and `tollgate journal`: what a test sets on, and reads from, a running
//! server. Fault rules and the journal live in that server's memory (they act on the requests
//! it answers, and a store shared by several nodes would make every node fire them), so these
//! commands talk to its admin API (`/v1/admin/faults`, `/v1/admin/journal`) with an API token,
//! not to the store as the other commands do.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;
use tollgate_dialects::faults::RuleSpec;

/// Which server, and the API token to call it with.
#[derive(Args, Debug)]
pub struct Server {
    /// The server's base URL, e.g. https://127.0.0.1:8443 or the `url` of the ephemeral ready line.
    #[arg(long, value_name = "URL", env = "TOLLGATE_URL", default_value = "https://127.0.0.1:8443")]
    url: String,
    /// An API token of a System Administrator (`tollgate token create`, or the ephemeral ready
    /// line's `admin.api_token`).
    #[arg(long, value_name = "TOKEN", env = "TOLLGATE_API_TOKEN", hide_env_values = true)]
    token: String,
    /// Accept the server's certificate without checking it (the self-signed one `serve` makes).
    #[arg(long, short = 'k')]
    insecure: bool,
}

#[derive(Subcommand, Debug)]
pub enum FaultCommand {
    /// Add a rule, e.g. `tollgate fault add --dialect vcd --path '/api/**' --status 503 --times 2`.
    Add {
        #[command(flatten)]
        server: Server,
        #[command(flatten)]
        rule: Box<RuleArgs>,
    },
    /// List the rules, with how often each matched and fired.
    List {
        #[command(flatten)]
        server: Server,
    },
    /// Remove the rule NAME, or every rule with --all.
    Remove {
        #[command(flatten)]
        server: Server,
        #[arg(value_name = "NAME", required_unless_present = "all")]
        name: Option<String>,
        #[arg(long, conflicts_with = "name")]
        all: bool,
    },
}

/// Which requests a rule matches, or the journal lists: every one given must hold.
#[derive(Args, Debug)]
pub struct RequestArgs {
    /// The dialect: vcd, vcda, loginsight, hcx, bluecat or native.
    #[arg(long)]
    dialect: Option<String>,
    /// The HTTP method, e.g. POST.
    #[arg(long)]
    method: Option<String>,
    /// Paths matching this glob: `*` within a segment, `**` across, `?` one character.
    #[arg(long, value_name = "GLOB")]
    path: Option<String>,
    /// The user of the session the request used or opened: name or name@org.
    #[arg(long)]
    user: Option<String>,
    /// The namespace the request acted in.
    #[arg(long)]
    namespace: Option<String>,
}

/// A fault rule's fields, as `POST /v1/admin/faults` takes them (see the README).
#[derive(Args, Debug)]
pub struct RuleArgs {
    /// The rule's name [default: fault-N].
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    request: RequestArgs,
    /// Answer with this status in the dialect's own error shape (400-599; 440 for Log Insight).
    #[arg(long, allow_negative_numbers = true)]
    status: Option<i64>,
    /// Wait this long before answering.
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    latency_ms: Option<i64>,
    /// And up to this much longer, at random.
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    jitter_ms: Option<i64>,
    /// reset, empty_reply, malformed_chunk, hang or slow_drip.
    #[arg(long, value_name = "KIND")]
    network: Option<String>,
    /// A slow drip's pace [default: 16].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    drip_bytes_per_second: Option<i64>,
    /// not_initialised, session_expired or account_locked.
    #[arg(long)]
    state: Option<String>,
    /// Fire this many times, then let requests through.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    times: Option<i64>,
    /// Let the first K matching requests through.
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    skip: Option<i64>,
    /// Fire with this probability (0 to 1) on each match.
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    probability: Option<f64>,
    /// Seed the probability's draws, so runs repeat.
    #[arg(long)]
    seed: Option<u64>,
}

impl From<RuleArgs> for RuleSpec {
    fn from(a: RuleArgs) -> RuleSpec {
        let RequestArgs { dialect, method, path, user, namespace } = a.request;
        RuleSpec {
            name: a.name,
            dialect,
            method,
            path,
            user,
            namespace,
            status: a.status,
            latency_ms: a.latency_ms,
            jitter_ms: a.jitter_ms,
            network: a.network,
            drip_bytes_per_second: a.drip_bytes_per_second,
            state: a.state,
            times: a.times,
            skip: a.skip,
            probability: a.probability,
            seed: a.seed,
        }
    }
}

/// `tollgate journal`'s filters and forms.
#[derive(Args, Debug)]
pub struct JournalArgs {
    #[command(flatten)]
    server: Server,
    #[command(flatten)]
    request: RequestArgs,
    /// The status answered.
    #[arg(long)]
    status: Option<u16>,
    /// The fault rule that fired; `*` for any.
    #[arg(long, value_name = "RULE")]
    fault: Option<String>,
    /// Only requests after this sequence number.
    #[arg(long, value_name = "SEQUENCE")]
    since: Option<u64>,
    /// The newest N requests that match [default: 100].
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Print how many requests match instead of listing them.
    #[arg(long)]
    count: bool,
    /// Fail (exit 1) unless exactly N requests match, e.g. `--user alice --method DELETE --expect 1`.
    #[arg(long, value_name = "N")]
    expect: Option<usize>,
}

pub async fn fault(command: FaultCommand) -> anyhow::Result<()> {
    match command {
        FaultCommand::Add { server, rule } => {
            let body = serde_json::to_value(RuleSpec::from(*rule))?;
            print(&call(&server, reqwest::Method::POST, "/v1/admin/faults", &[], Some(body)).await?)
        }
        FaultCommand::List { server } => {
            print(&call(&server, reqwest::Method::GET, "/v1/admin/faults", &[], None).await?["items"])
        }
        FaultCommand::Remove { server, name: Some(name), .. } => {
            let path = format!("/v1/admin/faults/{}", encode_segment(&name));
            print(&call(&server, reqwest::Method::DELETE, &path, &[], None).await?)
        }
        FaultCommand::Remove { server, .. } => {
            call(&server, reqwest::Method::DELETE, "/v1/admin/faults", &[], None).await?;
            Ok(())
        }
    }
}

pub async fn journal(args: JournalArgs) -> anyhow::Result<()> {
    let counting = args.count || args.expect.is_some();
    let RequestArgs { dialect, method, path, user, namespace } = args.request;
    let query: Vec<(&str, String)> = [
        ("dialect", dialect),
        ("method", method),
        ("path", path),
        ("status", args.status.map(|s| s.to_string())),
        ("user", user),
        ("namespace", namespace),
        ("fault", args.fault),
        ("since", args.since.map(|s| s.to_string())),
        ("expect", args.expect.map(|n| n.to_string())),
        ("limit", args.limit.filter(|_| !counting).map(|n| n.to_string())),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, value?)))
    .collect();
    if counting {
        let answer = call(&args.server, reqwest::Method::GET, "/v1/admin/journal/count", &query, None).await?;
        println!("{}", answer["count"]);
        return Ok(());
    }
    let answer = call(&args.server, reqwest::Method::GET, "/v1/admin/journal", &query, None).await?;
    // One request a line, for grep and jq.
    for entry in answer["items"].as_array().into_iter().flatten() {
        println!("{entry}");
    }
    Ok(())
}

fn print(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A path segment with everything but unreserved characters percent-encoded.
fn encode_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Calls the admin API; an error answer becomes an error carrying the server's message.
async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    query: &[(&str, String)],
    body: Option<Value>,
) -> anyhow::Result<Value> {
    crate::tls::install_crypto_provider();
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(server.insecure)
        .build()
        .context("cannot make an HTTP client")?;
    let url = format!("{}{path}", server.url.trim_end_matches('/'));
    let mut request = client.request(method, &url).bearer_auth(&server.token).query(query);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().await.with_context(|| format!("cannot read the answer of {url}"))?;
    let value: Value =
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    if !status.is_success() {
        let message = value["message"].as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
        bail!("{url}: {status}: {message}");
    }
    Ok(value)
}
