//! Local passwords: Argon2id, computed on a pool of dedicated, lower-priority threads so that
//! hashing never stalls request handling, yields the CPU to token validation when both want
//! it, and never holds more than a few 19 MiB buffers at once.
//!
//! Hashes wait in one of two lanes. Logins from addresses the core suspects (a recent refusal,
//! or a login already under way) wait in the low lane, which a thread serves only when nothing waits in
//! the normal one: a password spray then delays only itself, and a legitimate login waits at
//! most for the hashes already running.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{Semaphore, oneshot};

use crate::error::CoreError;
use crate::imported_hash::HashFormat;
use crate::telemetry::Metrics;
use metrics::{Gauge, Histogram};

/// How much work one Argon2id hash takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashCost {
    /// OWASP's minimum for Argon2id: 19 MiB, two passes, one lane.
    #[default]
    Owasp,
    /// 1 MiB, one pass, one lane: for a throw-away store (`serve --ephemeral`), whose
    /// passwords guard nothing once the test ends and whose start-up the two OWASP hashes
    /// (bootstrap and the dummy) would dominate. Still Argon2id, through the same code.
    Throwaway,
}

impl HashCost {
    fn argon2id(self) -> Argon2<'static> {
        let (memory_kib, passes) = match self {
            HashCost::Owasp => (19 * 1024, 2),
            HashCost::Throwaway => (1024, 1),
        };
        let params = Params::new(memory_kib, passes, 1, None).expect("constant parameters are valid");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }
}

/// Longest password accepted; Argon2 would take more, but nobody types this much.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// NIST SP 800-63B's minimum length for a password the user chooses.
pub const NIST_MIN_LENGTH: usize = 8;

/// Length of a generated password: 24 base64url characters, 144 random bits (longer when the
/// policy's minimum is).
const GENERATED_LENGTH: usize = 24;

/// What a new local password must be. Lengths count characters (Unicode scalar values), as
/// NIST SP 800-63B does; the upper bound is [`MAX_PASSWORD_BYTES`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
}

impl PasswordPolicy {
    /// The server's default (`[passwords] min_length = 8`).
    pub const NIST: PasswordPolicy = PasswordPolicy { min_length: NIST_MIN_LENGTH };

    /// Refuses a password this policy does not allow, saying why.
    pub fn check(&self, password: &str) -> Result<(), CoreError> {
        if password.is_empty() {
            return Err(CoreError::Invalid("the password must not be empty".into()));
        }
        let length = password.chars().count();
        if length < self.min_length {
            return Err(CoreError::Invalid(format!(
                "the password is too short: {length} characters, at least {} required (passwords.min_length)",
                self.min_length
            )));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(CoreError::Invalid(format!("the password is longer than {MAX_PASSWORD_BYTES} bytes")));
        }
        Ok(())
    }

    /// A random password this policy allows: base64url characters from the OS CSPRNG.
    pub fn generate(&self) -> String {
        let length = self.min_length.clamp(GENERATED_LENGTH, MAX_PASSWORD_BYTES);
        let mut password = String::with_capacity(length + 43);
        while password.len() < length {
            password.push_str(&crate::token::base64url256());
        }
        password.truncate(length);
        password
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy::NIST
    }
}

/// Hashes waiting in the normal lane; beyond this, login requests wait to be queued.
const QUEUE: usize = 1024;
/// Hashes waiting in the low lane; when it is full, a suspect login is answered "too many"
/// before it is hashed.
const LOW_LANE_PLACES: usize = 64;
/// How much hashing threads defer to request handling (a nice value: 0 is normal, 19 least).
const HASHING_NICENESS: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// Which queue a hash waits in: threads take a low-lane job only when no normal one waits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Lane {
    #[default]
    Normal,
    Low,
}

tokio::task_local! {
    /// The lane of the login the current task serves: hashes deep inside an identity source
    /// wait in it without every source's signature carrying it.
    static LANE: Lane;
}

/// Runs `future` (a login) with its hashes in `lane`.
pub(crate) async fn in_lane<F: Future>(lane: Lane, future: F) -> F::Output {
    LANE.scope(lane, future).await
}

fn current_lane() -> Lane {
    LANE.try_with(|lane| *lane).unwrap_or_default()
}

/// The low lane had no place left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LowLaneFull {
    /// True for the first refusal since the lane last had room: the one to audit.
    pub first_of_burst: bool,
}

/// Jobs waiting for a hashing thread, by lane.
#[derive(Default)]
struct Lanes {
    normal: VecDeque<Job>,
    low: VecDeque<Job>,
    /// Every [`PasswordHasher`] is gone: threads end once the lanes are empty.
    closed: bool,
}

#[derive(Default)]
struct Queue {
    lanes: Mutex<Lanes>,
    job_waiting: Condvar,
}

impl Queue {
    fn lanes(&self) -> std::sync::MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, lane: Lane, job: Job) {
        let mut lanes = self.lanes();
        match lane {
            Lane::Normal => lanes.normal.push_back(job),
            Lane::Low => lanes.low.push_back(job),
        }
        drop(lanes);
        self.job_waiting.notify_one();
    }

    /// The next job, the normal lane first; `None` once closed and empty.
    fn next(&self) -> Option<Job> {
        let mut lanes = self.lanes();
        loop {
            if let Some(job) = lanes.normal.pop_front().or_else(|| lanes.low.pop_front()) {
                return Some(job);
            }
            if lanes.closed {
                return None;
            }
            lanes = self.job_waiting.wait(lanes).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// The sending side every clone of a [`PasswordHasher`] shares; dropping the last closes the
/// queue, which ends the threads.
struct Inlet {
    queue: Arc<Queue>,
    /// Places in the normal lane.
    normal_places: Arc<Semaphore>,
    /// Places in the low lane.
    low_places: Arc<Semaphore>,
    /// The low lane refused its last taker.
    low_refusing: AtomicBool,
}

impl Drop for Inlet {
    fn drop(&mut self) {
        self.queue.lanes().closed = true;
        self.queue.job_waiting.notify_all();
    }
}

/// Hashes and verifies passwords on `threads` dedicated threads.
#[derive(Clone)]
pub struct PasswordHasher {
    inlet: Arc<Inlet>,
    /// Verified in place of a real hash when the account does not exist, so that
    /// "no such user" costs the same time as "wrong password".
    dummy_hash: Arc<str>,
    cost: HashCost,
    /// Jobs sent and not started yet.
    queue_depth: Gauge,
    /// From sending a job to a thread starting it.
    wait: Histogram,
}

impl PasswordHasher {
    pub fn new(threads: usize) -> Self {
        PasswordHasher::with_metrics(threads, HashCost::Owasp, &Metrics::disabled())
    }

    pub fn with_metrics(threads: usize, cost: HashCost, metrics: &Metrics) -> Self {
        let dummy_secret = hex::encode(crate::token::random_secret::<16>());
        let queue = Arc::new(Queue::default());
        for index in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("tollgate-hash-{index}"))
                .spawn(move || {
                    defer_to_requests();
                    // Ends when every PasswordHasher clone is gone and the queue is drained.
                    while let Some(job) = queue.next() {
                        // A job that panics drops its answer (its requester sees an error);
                        // the thread goes on with the next.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .expect("the OS could not start a password hashing thread");
        }
        let inlet = Inlet {
            queue,
            normal_places: Arc::new(Semaphore::new(QUEUE)),
            low_places: Arc::new(Semaphore::new(LOW_LANE_PLACES)),
            low_refusing: AtomicBool::new(false),
        };
        PasswordHasher {
            inlet: Arc::new(inlet),
            dummy_hash: hash_at(cost, &dummy_secret).into(),
            cost,
            queue_depth: metrics.hash_queue_depth.clone(),
            wait: metrics.hash_wait.clone(),
        }
    }

    /// Whether the low lane has room for a login's hash, checked before the login starts.
    /// Logins racing for the last place wait for it (the lane stays bounded).
    pub(crate) fn low_lane_room(&self) -> Result<(), LowLaneFull> {
        if self.inlet.low_places.available_permits() > 0 {
            self.inlet.low_refusing.store(false, Ordering::Relaxed);
            return Ok(());
        }
        Err(LowLaneFull { first_of_burst: !self.inlet.low_refusing.swap(true, Ordering::Relaxed) })
    }

    pub async fn hash(&self, password: &str) -> Result<String, CoreError> {
        let (password, cost) = (password.to_owned(), self.cost);
        self.run(move || hash_at(cost, &password)).await
    }

    /// True when `password` matches `hash`. A malformed hash never matches.
    pub async fn verify(&self, hash: Option<&str>, password: &str) -> Result<bool, CoreError> {
        let (hash, is_real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        let password = password.to_owned();
        let matched = self.run(move || verify_blocking(&hash, &password)).await?;
        Ok(matched && is_real)
    }

    /// Burns the time of one verification, for accounts that do not exist.
    pub async fn verify_dummy(&self, password: &str) -> Result<(), CoreError> {
        self.verify(None, password).await.map(|_| ())
    }

    /// Runs `work` on a hashing thread, waiting in the current task's lane. The job holds
    /// its place in the lane until a thread starts it.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, CoreError> {
        let lane = current_lane();
        let stopped = || CoreError::Internal("the password hashing threads have stopped".into());
        let places = match lane {
            Lane::Normal => &self.inlet.normal_places,
            Lane::Low => &self.inlet.low_places,
        };
        let place = places.clone().acquire_owned().await.map_err(|_| stopped())?;
        let (done, result) = oneshot::channel();
        let (queue_depth, wait, queued) = (self.queue_depth.clone(), self.wait.clone(), Instant::now());
        let job: Job = Box::new(move || {
            drop(place);
            queue_depth.decrement(1.0);
            wait.record(queued.elapsed());
            // A requester that has gone away (client disconnected, request timed out) needs
            // no answer: skip the work.
            if !done.is_closed() {
                let _ = done.send(work());
            }
        });
        self.queue_depth.increment(1.0);
        self.inlet.queue.push(lane, job);
        result.await.map_err(|_| stopped())
    }
}

/// Lowers the calling thread's scheduling priority (Linux keeps a nice value per thread).
fn defer_to_requests() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments; gettid names the calling thread.
    unsafe {
        if libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, HASHING_NICENESS) != 0 {
            tracing::warn!("could not lower the priority of a password hashing thread");
        }
    }
}

/// A fresh Argon2id PHC string for `password`, at OWASP's cost.
pub fn hash_blocking(password: &str) -> String {
    hash_at(HashCost::Owasp, password)
}

fn hash_at(cost: HashCost, password: &str) -> String {
    cost.argon2id().hash_password(password.as_bytes()).expect("Argon2id with valid parameters cannot fail").to_string()
}

fn verify_blocking(hash: &str, password: &str) -> bool {
    match HashFormat::of(hash) {
        // The parameters come from the PHC string, so hashes made at another cost still verify.
        Ok(HashFormat::Argon2id) => HashCost::Owasp.argon2id().verify_password(password.as_bytes(), hash).is_ok(),
        Ok(imported) => crate::imported_hash::verify(imported, hash, password.as_bytes()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_argon2id_at_owasp_strength_and_verifies() {
        let hasher = PasswordHasher::new(2);
        let hash = hasher.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify(Some(&hash), "correct horse").await.unwrap());
        assert!(!hasher.verify(Some(&hash), "wrong horse").await.unwrap());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_lower_priority() {
        let hasher = PasswordHasher::new(1);
        hasher.hash("warm").await.unwrap();
        let nice_of_hashing_thread = std::fs::read_dir("/proc/self/task").unwrap().find_map(|task| {
            let task = task.unwrap().path();
            let name = std::fs::read_to_string(task.join("comm")).unwrap();
            if !name.starts_with("tollgate-hash") {
                return None;
            }
            let stat = std::fs::read_to_string(task.join("stat")).unwrap();
            // Fields after the parenthesised name: state is field 3, nice is field 19.
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            after_name.split_whitespace().nth(16).map(|n| n.parse::<i32>().unwrap())
        });
        assert_eq!(nice_of_hashing_thread, Some(HASHING_NICENESS));
    }

    /// Occupies a one-thread hasher until `release` is sent, so that other jobs queue.
    async fn hold_the_only_thread(
        hasher: &PasswordHasher,
    ) -> (tokio::task::JoinHandle<()>, std::sync::mpsc::Sender<()>) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let busy = tokio::spawn({
            let hasher = hasher.clone();
            async move {
                hasher
                    .run(move || {
                        started.send(()).unwrap();
                        held.recv().unwrap()
                    })
                    .await
                    .unwrap()
            }
        });
        running.await.unwrap();
        (busy, release)
    }

    #[tokio::test]
    async fn a_waiting_normal_hash_runs_before_low_lane_hashes_queued_earlier() {
        let hasher = PasswordHasher::with_metrics(1, HashCost::Throwaway, &Metrics::disabled());
        let (busy, release) = hold_the_only_thread(&hasher).await;
        let finished = Arc::new(Mutex::new(Vec::new()));
        let queue = |lane: Lane, name: &'static str| {
            let (hasher, finished) = (hasher.clone(), finished.clone());
            tokio::spawn(in_lane(lane, async move {
                hasher.run(move || finished.lock().unwrap().push(name)).await.unwrap();
            }))
        };
        let mut waiting = vec![queue(Lane::Low, "low 1"), queue(Lane::Low, "low 2")];
        while hasher.inlet.queue.lanes().low.len() < 2 {
            tokio::task::yield_now().await;
        }
        waiting.push(queue(Lane::Normal, "normal"));
        while hasher.inlet.queue.lanes().normal.is_empty() {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        busy.await.unwrap();
        for job in waiting {
            job.await.unwrap();
        }
        assert_eq!(*finished.lock().unwrap(), ["normal", "low 1", "low 2"]);
    }

    #[tokio::test]
    async fn a_full_low_lane_refuses_once_per_burst_until_it_has_room_again() {
        let hasher = PasswordHasher::with_metrics(1, HashCost::Throwaway, &Metrics::disabled());
        let (busy, release) = hold_the_only_thread(&hasher).await;
        assert_eq!(hasher.low_lane_room(), Ok(()));
        let waiting: Vec<_> = (0..LOW_LANE_PLACES)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(in_lane(Lane::Low, async move { hasher.verify_dummy("guess").await.unwrap() }))
            })
            .collect();
        while hasher.inlet.queue.lanes().low.len() < LOW_LANE_PLACES {
            tokio::task::yield_now().await;
        }
        assert_eq!(hasher.low_lane_room(), Err(LowLaneFull { first_of_burst: true }));
        assert_eq!(hasher.low_lane_room(), Err(LowLaneFull { first_of_burst: false }));
        release.send(()).unwrap();
        busy.await.unwrap();
        for job in waiting {
            job.await.unwrap();
        }
        assert_eq!(hasher.low_lane_room(), Ok(()));
    }

    #[test]
    fn the_policy_refuses_empty_short_and_overlong_passwords_and_counts_characters() {
        let policy = PasswordPolicy::default();
        assert_eq!(policy.min_length, 8);
        let refusal = |p: &str| match policy.check(p) {
            Err(CoreError::Invalid(why)) => why,
            other => panic!("{p:?} should be refused, got {other:?}"),
        };
        assert!(refusal("").contains("must not be empty"));
        assert!(refusal("seven77").contains("too short: 7 characters, at least 8"));
        assert!(refusal(&"x".repeat(MAX_PASSWORD_BYTES + 1)).contains("longer than"));
        policy.check("alice-pw").unwrap();
        // Eight characters, sixteen bytes.
        policy.check("ääääääää").unwrap();
        assert!(refusal("äääääää").contains("too short"));
        PasswordPolicy { min_length: 1 }.check("x").unwrap();
    }

    #[test]
    fn generated_passwords_satisfy_their_policy() {
        for min_length in [1, 8, 24, 25, 100, MAX_PASSWORD_BYTES] {
            let policy = PasswordPolicy { min_length };
            let password = policy.generate();
            policy.check(&password).unwrap();
            assert!(password.len() >= GENERATED_LENGTH, "{min_length}");
            assert!(password.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        }
        assert_ne!(PasswordPolicy::NIST.generate(), PasswordPolicy::NIST.generate());
    }

    #[tokio::test]
    async fn imported_hashes_verify_on_the_hashing_threads() {
        let hasher = PasswordHasher::new(1);
        let django = "pbkdf2_sha256$1000$salt$CjglNVXON/XHKmtwP5loFOvyQfIDrxRuk9zesDHFVn4=";
        assert!(hasher.verify(Some(django), "pw").await.unwrap());
        assert!(!hasher.verify(Some(django), "pW").await.unwrap());
    }

    #[tokio::test]
    async fn throwaway_hashes_are_cheap_argon2id_and_verify_with_owasp_ones() {
        let cheap = PasswordHasher::with_metrics(1, HashCost::Throwaway, &Metrics::disabled());
        let hash = cheap.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
        assert!(cheap.verify(Some(&hash), "correct horse").await.unwrap());
        assert!(!cheap.verify(Some(&hash), "wrong horse").await.unwrap());
        let owasp = PasswordHasher::new(1).hash("correct horse").await.unwrap();
        assert!(cheap.verify(Some(&owasp), "correct horse").await.unwrap());
    }

    #[tokio::test]
    async fn garbage_hash_and_missing_hash_never_match() {
        let hasher = PasswordHasher::new(1);
        assert!(!hasher.verify(Some("not a hash"), "x").await.unwrap());
        assert!(!hasher.verify(None, "x").await.unwrap());
    }
}
