//! TLS to Redis (`rediss://`): a redis-server of the test's own that speaks TLS only, with a
//! certificate from a test CA. Redis failing falls back to PostgreSQL without a word to the
//! caller, so each case looks in Redis for the lockout counter the store was asked to count.

use std::path::Path;
use std::sync::Arc;

use rcgen::{CertificateParams, CertifiedIssuer, DnType, KeyPair};
use tollgate_core::{LockoutStore, Store, Timestamp};
use tollgate_store_postgres::testing::test_ca as ca;
use tollgate_store_postgres::{PostgresStore, Timeouts};
use tollgate_store_redis::RedisAssisted;
use tollgate_store_redis::testing::Server;

/// A redis-server speaking TLS only, with a certificate for `localhost` (and no address)
/// that `ca` signed.
fn tls_server(dir: &Path, ca: &CertifiedIssuer<'static, KeyPair>) -> Server {
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    Server::start_tls(&cert_path, &key_path)
}

/// Counts one failed login of `account` through a Redis-assisted store on `redis_url`, or
/// says why the store could not be made.
async fn count_failure(postgres: &Arc<dyn Store>, redis_url: &str, account: &[u8]) -> Result<(), String> {
    let store = RedisAssisted::new(postgres.clone(), redis_url).map_err(|e| e.to_string())?;
    let now = Timestamp(1_700_000_000_000);
    let counted = store.reserve_attempt(account, &[("192.0.2.1", 5)], now, Timestamp(0)).await;
    assert_eq!(counted.unwrap(), Some(vec![1]), "counted, in Redis or in PostgreSQL");
    Ok(())
}

/// Keys of lockout counters Redis holds, read over TLS checked against `ca_pem`.
async fn counters_in_redis(port: u16, ca_pem: &Path) -> usize {
    let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(std::fs::read(ca_pem).unwrap()) };
    let client = redis::Client::build_with_tls(format!("rediss://localhost:{port}/"), certificates).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("tollgate:lockout:*").query_async(&mut connection).await.unwrap();
    keys.len()
}

#[tokio::test]
async fn rediss_urls_talk_tls_checked_against_the_ca_and_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let test_ca = ca(dir.path(), "test-ca");
    ca(dir.path(), "other-ca");
    let redis = tls_server(dir.path(), &test_ca);
    let (port, test_ca_pem, other_ca_pem) =
        (redis.port, dir.path().join("test-ca.pem"), dir.path().join("other-ca.pem"));
    let url = tollgate_store_postgres::testing::server().database().await;
    let postgres: Arc<dyn Store> = Arc::new(PostgresStore::open(&url, Timeouts::default()).await.unwrap());

    // Plain Redis to a TLS port, a certificate of another CA, a certificate for another name:
    // each counted in PostgreSQL instead, nothing in Redis.
    count_failure(&postgres, &format!("redis://localhost:{port}/"), b"plain").await.unwrap();
    let other_ca = format!("rediss://localhost:{port}/?sslrootcert={}", other_ca_pem.display());
    count_failure(&postgres, &other_ca, b"other ca").await.unwrap();
    let other_name = format!("rediss://127.0.0.1:{port}/?sslrootcert={}", test_ca_pem.display());
    count_failure(&postgres, &other_name, b"other name").await.unwrap();
    assert_eq!(counters_in_redis(port, &test_ca_pem).await, 0, "nothing reached Redis without verified TLS");

    // The test CA and the name on the certificate: the counter is in Redis.
    let verified = format!("rediss://localhost:{port}/?sslrootcert={}", test_ca_pem.display());
    count_failure(&postgres, &verified, b"verified").await.unwrap();
    assert!(counters_in_redis(port, &test_ca_pem).await > 0, "counted in Redis, over TLS");

    // Mistakes in the URL are named when the store is made.
    let plain_with_ca = format!("redis://localhost:{port}/?sslrootcert={}", test_ca_pem.display());
    let refused = count_failure(&postgres, &plain_with_ca, b"x").await;
    assert!(refused.as_ref().is_err_and(|e| e.contains("needs a rediss:// URL")), "{refused:?}");
    let missing =
        count_failure(&postgres, &format!("rediss://localhost:{port}/?sslrootcert=/nonexistent.pem"), b"x").await;
    assert!(missing.as_ref().is_err_and(|e| e.contains("cannot read sslrootcert /nonexistent.pem")), "{missing:?}");
}
