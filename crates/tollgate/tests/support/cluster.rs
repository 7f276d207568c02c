//! Nodes of a cluster: real `tollgate` processes on one PostgreSQL store, and what their
//! `/metrics` say.

use std::collections::HashMap;

use super::{Options, Server};

/// A node on `store_url`, plain HTTP, with `env` on top.
pub fn node(store_url: &str, env: &[(&str, &str)]) -> Server {
    let mut all = vec![("TOLLGATE_STORE__URL".to_owned(), store_url.to_owned())];
    all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Server::start(Options { http: true, env: all, ..Options::default() })
}

/// Every sample of the node's `/metrics`, by series (name and labels as written).
pub async fn metrics(client: &reqwest::Client, url: &str) -> HashMap<String, f64> {
    let text = client.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The sum, over `nodes`, of the samples of `name` whose labels include each of `labels`
/// (`key="value"`).
pub async fn total(client: &reqwest::Client, nodes: &[&Server], name: &str, labels: &[&str]) -> f64 {
    let mut sum = 0.0;
    for node in nodes {
        for (series, value) in metrics(client, &node.url).await {
            let matches = series.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.is_empty());
            if matches && labels.iter().all(|label| series.contains(label)) {
                sum += value;
            }
        }
    }
    sum
}
