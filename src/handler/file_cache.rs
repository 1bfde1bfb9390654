//! A per-worker cache of small static files, kept exact by inotify, below the static-file
//! handler: [`FileCache::open`] answers a path with a ready [`FileRep`] (the bytes in memory or
//! the opened file, its validators and Content-Type), so the handler reads top to bottom.
//! Each worker owns one (in its context) and lends it to the requests it handles.
//!
//! Serving a small file costs more in system calls (open, fstat, sendfile, close) than in
//! bytes. This cache keeps the content of files up to [`MAX_FILE`] bytes in memory, so a hit
//! is answered with one `writev`. It must never serve a stale file:
//!
//! - Each cached file's directory is watched with inotify; any change in it (write, attribute,
//!   create, delete, rename) drops that directory's entries.
//! - The inotify queue is in the worker's epoll set ([`FileCache::register`]) and read whenever it is
//!   readable, before the batch's requests are handled ([`FileCache::changes_ready`]); and again before a
//!   look-up that follows a request which may have changed files (an upload, a DELETE, a CGI
//!   script: [`FileCache::note_possible_change`]). A request that causally follows a change therefore
//!   never sees the old content: the change queued its inotify event (and made the queue
//!   readable) before the request could be sent. Where the queue could not be registered, it
//!   is read at the start of every batch instead ([`FileCache::begin_batch`]).
//! - A path with a symlink anywhere in it is never cached (its watched directory would not be
//!   the one that holds the file). What inotify still cannot see (a renamed ancestor directory,
//!   another mount) is caught by re-checking an entry with `stat` once it is [`REVALIDATE`] old.
//!
//! It also remembers, the same way, paths found **absent** ([`FileCache::open_if_present`]): the `.gz` sibling
//! `gzip_static` looks for on every request would otherwise cost a failing `open` each time.
//! Creating the file is a change in its watched directory, which forgets the absence.
//!
//! It keeps, the same way, the **compressed variants** of files that compression on the fly
//! made ([`FileCache::variant`]): by path, coding and level, each with the version of the file
//! it was made from (a variant is used only for that exact version, and dropped with its
//! directory's entries on any change there). A variant is made by the exchange that first
//! compresses the file ([`FileCache::begin_variant`], [`FileCache::end_variant`]: at most
//! [`MAX_FILLS`] at once, each output kept up to [`MAX_VARIANT`]), and kept only if nothing
//! changed in the file's directory while it was made and the file is still that version.
//! With its variants, the cache keeps what a response says of the file (its metadata,
//! validators and Content-Type: a [`Known`] file), kept exact as an entry is (its directory
//! watched, re-checked with `stat` once [`REVALIDATE`] old; never for a path through a
//! symlink). [`FileCache::open`] answers such a file without opening it
//! ([`FileRep::Known`]): the exchange sends the variant, or opens the file only when it sends
//! the file itself. A hot compressed file then costs what an uncompressed cached one costs:
//! no system call for the file.
//!
//! The cache is bounded in entries and bytes (files and variants apart); when full it is
//! emptied and refilled.

use crate::http::negotiation::Coding;
use crate::http::response::{Body, FileOrigin, FileVersion, Value};
use crate::site::file_info::{Validators, content_type, open};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::inotify;
use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::hash::{BuildHasherDefault, Hasher};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest file kept in memory. Past a few pages, sendfile (zero-copy) is as cheap as a copy
/// from memory, and measured steadier: 64 KiB responses written from memory alternated
/// between ~47k and ~21k req/s from one wrk run to the next, through sendfile they held ~45k.
pub const MAX_FILE: u64 = 16 * 1024;
const MAX_ENTRIES: usize = 4096;
const MAX_BYTES: usize = 32 * 1024 * 1024;
const REVALIDATE: Duration = Duration::from_secs(2);
/// Largest compressed variant kept (what one compression may hold back to keep).
pub const MAX_VARIANT: usize = 1024 * 1024;
/// Bytes of compressed variants one worker keeps.
const MAX_VARIANT_BYTES: usize = 32 * 1024 * 1024;
/// Variants being made at once in one worker.
pub const MAX_FILLS: usize = 8;
/// A fill not ended by then (its exchange was dropped) no longer blocks another.
const FILL_EXPIRY: Duration = Duration::from_secs(60);

/// Every change in a directory that could alter what one of its paths names.
const WATCHED: inotify::WatchFlags = inotify::WatchFlags::MODIFY
    .union(inotify::WatchFlags::ATTRIB)
    .union(inotify::WatchFlags::CLOSE_WRITE)
    .union(inotify::WatchFlags::CREATE)
    .union(inotify::WatchFlags::DELETE)
    .union(inotify::WatchFlags::DELETE_SELF)
    .union(inotify::WatchFlags::MOVED_FROM)
    .union(inotify::WatchFlags::MOVED_TO)
    .union(inotify::WatchFlags::MOVE_SELF);

/// A cached file.
pub struct Entry {
    pub content: Arc<[u8]>,
    /// The path it was cached under ([`key`]).
    key: Box<[u8]>,
    /// Modification time and identity when read.
    pub metadata: Metadata,
    /// What a response says of it, worked out once: its validators (from `metadata`, which an
    /// entry keeps exact), the Content-Type of its own name, and for a `NAME.gz` the type of
    /// `NAME` (what `gzip_static` serves it as).
    pub validators: Validators,
    pub content_type: Arc<str>,
    pub stem_type: Option<Arc<str>>,
    watch: i32,
    checked: Instant,
}

/// The entries' keys: a path's bytes. Hashed with [`PathHasher`].
type Entries = HashMap<Box<[u8]>, Arc<Entry>, BuildHasherDefault<PathHasher>>;

/// A multiply-rotate hash (FxHash's), in place of SipHash, over the bytes of a path: SipHash
/// and `Path`'s component-wise hashing cost ~650 instructions per look-up, 4 % of a cached
/// 1 KiB response; this costs ~60. SipHash's keyed resistance to chosen collisions is not
/// needed here: only files that exist are inserted, and a look-up of a colliding path that is
/// not cached walks a table of at most [`MAX_ENTRIES`] real files.
#[derive(Default, Clone, Copy)]
struct PathHasher(u64);

impl PathHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The key of `path` in [`Cache::entries`]: its bytes as given (two spellings of one file
/// make two entries, both watched; never a wrong hit).
fn key(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

struct Cache {
    inotify: OwnedFd,
    entries: Entries,
    /// Small files found uncacheable (a symlink on the path, an unwatchable directory), so
    /// that they are not read and checked again on every request; re-tried after
    /// [`REVALIDATE`].
    refused: HashMap<PathBuf, Instant>,
    /// Paths known not to exist: the watch of their directory, and when that was checked.
    absent: HashMap<PathBuf, (i32, Instant)>,
    bytes: usize,
    dirty: bool,
    /// Compressed variants, by the path of their file.
    variants: HashMap<Box<[u8]>, Variants, BuildHasherDefault<PathHasher>>,
    variant_bytes: usize,
    /// Variants being made, with when they began.
    filling: Vec<(Box<[u8]>, Coding, u32, Instant)>,
    /// A counter of the changes inotify reported, and for each watch the count at its last
    /// change: a fill that began before a change in its directory is not kept.
    changes: u64,
    last_change: HashMap<i32, u64>,
    /// The count at the last change that could not be told apart (a queue overflow, the
    /// table above emptied): every fill begun before it is dropped.
    last_unknown: u64,
}

/// The compressed forms of one file, all of one version of it.
struct Variants {
    version: FileVersion,
    /// The watch of the file's directory.
    watch: i32,
    /// What a response says of the file (None for a path through a symlink, which is then
    /// opened for every request, and its version compared).
    known: Option<Arc<Known>>,
    list: Vec<Variant>,
}

impl Variants {
    fn bytes(&self) -> usize {
        self.list.iter().map(|v| v.bytes.len()).sum()
    }
}

/// A compressed form of a file.
struct Variant {
    coding: Coding,
    level: u32,
    bytes: Arc<[u8]>,
}

/// A file the cache keeps compressed variants of, known current without opening it: what a
/// response says of it, worked out once.
pub struct Known {
    /// Its path and version (what its variants are of).
    pub origin: Arc<FileOrigin>,
    metadata: Metadata,
    pub validators: Validators,
    pub content_type: Arc<str>,
    checked: Instant,
}

/// A variant being made: handed back to [`FileCache::end_variant`] with the output.
#[derive(Debug)]
pub struct Fill {
    path: PathBuf,
    coding: Coding,
    level: u32,
    version: FileVersion,
    watch: i32,
    /// [`Cache::changes`] when it began.
    began: u64,
}

/// One worker's cache: owned by the worker (its context) and lent to each request it handles.
/// Without inotify (init failed) nothing is cached and every request opens its file.
pub struct FileCache {
    cache: Option<Cache>,
    /// The worker's time for this batch of events ([`FileCache::set_clock`]): how old an entry
    /// is, without asking the clock at every look-up.
    clock: Instant,
}

/// What [`FileCache::open`] found at a path.
pub enum Found {
    /// A regular file, ready to answer with.
    File(FileRep),
    Directory,
    /// Anything else (a FIFO, a device): never served.
    Other,
}

/// A regular file and what a response says of it: from memory (with the validators and
/// Content-Type worked out when it was cached), or opened now.
pub enum FileRep {
    Cached(Arc<Entry>),
    /// A file with compressed variants kept, not opened: its body is [`Body::Unopened`].
    Known(Arc<Known>),
    Opened {
        file: File,
        size: u64,
        validators: Validators,
        version: FileVersion,
    },
}

impl FileRep {
    pub fn size(&self) -> u64 {
        match self {
            FileRep::Cached(entry) => entry.content.len() as u64,
            FileRep::Known(known) => known.origin.version.size,
            FileRep::Opened { size, .. } => *size,
        }
    }

    /// The version of the file these bytes are.
    pub fn version(&self) -> FileVersion {
        match self {
            FileRep::Cached(entry) => FileVersion::of(&entry.metadata),
            FileRep::Known(known) => known.origin.version,
            FileRep::Opened { version, .. } => *version,
        }
    }

    /// The file at `path` in this version (what a compressed variant is of).
    pub fn origin(&self, path: &Path) -> Arc<FileOrigin> {
        match self {
            FileRep::Known(known) => Arc::clone(&known.origin),
            _ => Arc::new(FileOrigin {
                path: path.to_path_buf(),
                version: self.version(),
            }),
        }
    }

    pub fn validators(&self) -> &Validators {
        match self {
            FileRep::Cached(entry) => &entry.validators,
            FileRep::Known(known) => &known.validators,
            FileRep::Opened { validators, .. } => validators,
        }
    }

    /// The Content-Type of these bytes served under the name `type_path`: the file's own
    /// path, or (for a `.gz`, `.br` or `.zst` sibling) the name of which it is the compressed
    /// form.
    pub fn content_type(&self, type_path: &Path) -> Value {
        if let FileRep::Known(known) = self
            && type_path == known.origin.path
        {
            return Value::from(&known.content_type);
        }
        if let FileRep::Cached(entry) = self {
            if key(type_path) == &*entry.key {
                return Value::from(&entry.content_type);
            }
            if let Some(stem_type) = &entry.stem_type
                && stem(&entry.key) == Some(key(type_path))
            {
                return Value::from(stem_type);
            }
        }
        Value::Owned(content_type(type_path))
    }

    /// `len` bytes from `offset`: shared memory, or the file (sent with sendfile).
    pub fn body(self, offset: u64, len: u64) -> Body {
        match self {
            FileRep::Cached(entry) => Body::Shared {
                data: Arc::clone(&entry.content),
                offset: offset as usize,
                len: len as usize,
            },
            FileRep::Known(known) => Body::Unopened {
                origin: Arc::clone(&known.origin),
                offset,
                len,
            },
            FileRep::Opened { file, .. } => Body::File { file, offset, len },
        }
    }
}

impl Default for FileCache {
    fn default() -> FileCache {
        FileCache::new()
    }
}

impl FileCache {
    /// A cache with its inotify descriptor (or, if inotify cannot be had, one that caches
    /// nothing).
    pub fn new() -> FileCache {
        let flags = inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK;
        let cache = inotify::init(flags).ok().map(|fd| Cache {
            inotify: fd,
            entries: Entries::default(),
            refused: HashMap::new(),
            absent: HashMap::new(),
            bytes: 0,
            dirty: false,
            variants: Default::default(),
            variant_bytes: 0,
            filling: Vec::new(),
            changes: 0,
            last_change: HashMap::new(),
            last_unknown: 0,
        });
        FileCache {
            cache,
            clock: Instant::now(),
        }
    }

    /// The time of the batch of events about to be handled.
    pub fn set_clock(&mut self, now: Instant) {
        self.clock = now;
    }

    /// Hands the inotify descriptor to `add` (to put it in the worker's epoll set), so that
    /// the queue is read only when it holds events. None: this cache caches nothing.
    pub fn register(
        &self,
        add: impl FnOnce(BorrowedFd<'_>) -> std::io::Result<()>,
    ) -> Option<std::io::Result<()>> {
        self.cache.as_ref().map(|cache| add(cache.inotify.as_fd()))
    }

    /// The inotify queue is readable: apply the changes now, before the batch's requests.
    pub fn changes_ready(&mut self) {
        if let Some(cache) = &mut self.cache {
            cache.apply_changes();
        }
    }

    /// A new event-loop batch begins: changes may have happened while the loop waited (for a
    /// worker whose queue is not in its epoll set).
    pub fn begin_batch(&mut self) {
        if let Some(cache) = &mut self.cache {
            cache.dirty = true;
        }
    }

    /// A request that may change files (anything but a static GET or HEAD) is being handled.
    pub fn note_possible_change(&mut self) {
        self.begin_batch();
    }

    /// The regular file (from memory, or opened and cached when small) or directory at
    /// `path`. Opened first and examined with fstat: one path walk, and no window between the
    /// check and the use.
    pub fn open(&mut self, path: &Path) -> std::io::Result<Found> {
        if let Some(entry) = self.lookup(path) {
            return Ok(Found::File(FileRep::Cached(entry)));
        }
        if let Some(known) = self.known(path) {
            return Ok(Found::File(FileRep::Known(known)));
        }
        let (file, metadata) = open(path)?;
        Ok(if metadata.is_file() {
            Found::File(self.representation(path, file, metadata))
        } else if metadata.is_dir() {
            Found::Directory
        } else {
            Found::Other
        })
    }

    /// The regular file at `path`, if there is one.
    pub fn open_regular(&mut self, path: &Path) -> Option<FileRep> {
        match self.open(path) {
            Ok(Found::File(file)) => Some(file),
            _ => None,
        }
    }

    /// Like [`FileCache::open_regular`] for a path that usually does not exist (the `.gz`
    /// sibling `gzip_static` looks for on every request): its absence is remembered, so that a
    /// site where most files have no sibling does not pay a failing `open` per request.
    pub fn open_if_present(&mut self, path: &Path) -> Option<FileRep> {
        if self.known_absent(path) {
            return None;
        }
        if let Some(entry) = self.lookup(path) {
            return Some(FileRep::Cached(entry));
        }
        match open(path) {
            Ok((file, metadata)) if metadata.is_file() => {
                Some(self.representation(path, file, metadata))
            }
            Ok(_) => None,
            Err(error) => {
                if error.kind() == std::io::ErrorKind::NotFound {
                    self.note_absent(path);
                }
                None
            }
        }
    }

    /// A regular file just opened: cached (and answered from memory) when small enough.
    fn representation(&mut self, path: &Path, file: File, metadata: Metadata) -> FileRep {
        match self.load(path, &file, &metadata) {
            Some(entry) => FileRep::Cached(entry),
            None => FileRep::Opened {
                validators: Validators::of(&metadata),
                version: FileVersion::of(&metadata),
                file,
                size: metadata.len(),
            },
        }
    }

    /// The compressed variant of `origin` (that path in that version) in `coding` at `level`,
    /// if one was kept.
    pub fn variant(
        &mut self,
        origin: &FileOrigin,
        coding: Coding,
        level: u32,
    ) -> Option<Arc<[u8]>> {
        let cache = self.cache.as_mut()?;
        if cache.dirty {
            cache.apply_changes();
        }
        let variants = cache.variants.get(key(&origin.path))?;
        if variants.version != origin.version {
            return None;
        }
        variants
            .list
            .iter()
            .find(|v| v.coding == coding && v.level == level)
            .map(|v| Arc::clone(&v.bytes))
    }

    /// The file at `path` if the cache keeps variants of it and knows it current (as an
    /// entry: nothing changed in its directory, and re-checked with `stat` once
    /// [`REVALIDATE`] old).
    fn known(&mut self, path: &Path) -> Option<Arc<Known>> {
        let cache = self.cache.as_mut()?;
        if cache.dirty {
            cache.apply_changes();
        }
        if cache.variants.is_empty() {
            return None;
        }
        let variants = cache.variants.get_mut(key(path))?;
        let known = variants.known.as_ref()?;
        if self.clock.saturating_duration_since(known.checked) < REVALIDATE {
            return Some(Arc::clone(known));
        }
        match fs::metadata(path) {
            Ok(now) if same_file(&now, &known.metadata) => {
                let refreshed = Arc::new(Known {
                    origin: Arc::clone(&known.origin),
                    metadata: now,
                    validators: known.validators.clone(),
                    content_type: Arc::clone(&known.content_type),
                    checked: Instant::now(),
                });
                variants.known = Some(Arc::clone(&refreshed));
                Some(refreshed)
            }
            _ => {
                if let Some(gone) = cache.variants.remove(key(path)) {
                    cache.variant_bytes -= gone.bytes();
                }
                None
            }
        }
    }

    /// Starts making the variant of `origin` in `coding` at `level`, unless another exchange
    /// is making it or [`MAX_FILLS`] are under way. Its directory is watched from now on.
    pub fn begin_variant(
        &mut self,
        origin: &FileOrigin,
        coding: Coding,
        level: u32,
    ) -> Option<Fill> {
        let cache = self.cache.as_mut()?;
        let now = self.clock;
        cache
            .filling
            .retain(|(_, _, _, at)| now.saturating_duration_since(*at) < FILL_EXPIRY);
        let path = key(&origin.path);
        if cache.filling.len() >= MAX_FILLS
            || cache
                .filling
                .iter()
                .any(|(p, c, l, _)| &**p == path && *c == coding && *l == level)
        {
            return None;
        }
        let dir = origin.path.parent()?;
        let watch = inotify::add_watch(&cache.inotify, dir, WATCHED).ok()?;
        // What happened before the watch is caught by the version check at the end.
        cache.apply_changes();
        cache.filling.push((path.into(), coding, level, now));
        Some(Fill {
            path: origin.path.clone(),
            coding,
            level,
            version: origin.version,
            watch,
            began: cache.changes,
        })
    }

    /// The variant of `fill` is made (`bytes`: its whole output; None: it was not finished).
    /// Kept if nothing changed in its directory meanwhile and the file is still the version it
    /// was made from.
    pub fn end_variant(&mut self, fill: Fill, bytes: Option<Vec<u8>>) {
        let Some(cache) = self.cache.as_mut() else {
            return;
        };
        let path = key(&fill.path);
        cache
            .filling
            .retain(|(p, c, l, _)| !(&**p == path && *c == fill.coding && *l == fill.level));
        let Some(bytes) = bytes.filter(|b| b.len() <= MAX_VARIANT) else {
            return;
        };
        cache.apply_changes();
        let changed = cache
            .last_change
            .get(&fill.watch)
            .is_some_and(|at| *at > fill.began)
            || cache.last_unknown > fill.began;
        if changed {
            return;
        }
        let metadata = match fs::metadata(&fill.path) {
            Ok(now) if FileVersion::of(&now) == fill.version => now,
            _ => return,
        };
        if cache.variant_bytes + bytes.len() > MAX_VARIANT_BYTES
            || cache.variants.len() >= MAX_ENTRIES
        {
            cache.variants.clear();
            cache.variant_bytes = 0;
        }
        cache.variant_bytes += bytes.len();
        let variants = cache
            .variants
            .entry(path.into())
            .or_insert_with(|| Variants {
                version: fill.version,
                watch: fill.watch,
                known: None,
                list: Vec::new(),
            });
        if variants.version != fill.version || variants.watch != fill.watch {
            // An older version's variants go.
            cache.variant_bytes -= variants.bytes();
            variants.list.clear();
            variants.known = None;
            variants.version = fill.version;
            variants.watch = fill.watch;
        }
        // The same coding and level made again (two fills in turn) replaces the first.
        variants.list.retain(|v| {
            let again = v.coding == fill.coding && v.level == fill.level;
            if again {
                cache.variant_bytes -= v.bytes.len();
            }
            !again
        });
        variants.list.push(Variant {
            coding: fill.coding,
            level: fill.level,
            bytes: bytes.into(),
        });
        // Through a symlink the watched directory is not the file's own: such a file is
        // opened for every request (and its version compared), as it is never cached.
        if variants.known.is_none() && fs::canonicalize(&fill.path).is_ok_and(|c| c == fill.path) {
            variants.known = Some(Arc::new(Known {
                origin: Arc::new(FileOrigin {
                    path: fill.path.clone(),
                    version: fill.version,
                }),
                validators: Validators::of(&metadata),
                content_type: content_type(&fill.path).into(),
                metadata,
                checked: Instant::now(),
            }));
        }
    }

    /// The cached content of `path`, if it is cached and current.
    fn lookup(&mut self, path: &Path) -> Option<Arc<Entry>> {
        let cache = self.cache.as_mut()?;
        if cache.dirty {
            cache.apply_changes();
        }
        let entry = cache.entries.get(key(path))?.clone();
        if self.clock.saturating_duration_since(entry.checked) < REVALIDATE {
            return Some(entry);
        }
        match fs::metadata(path) {
            Ok(now) if same_file(&now, &entry.metadata) => {
                let refreshed = Arc::new(Entry {
                    content: Arc::clone(&entry.content),
                    key: entry.key.clone(),
                    metadata: now,
                    validators: entry.validators.clone(),
                    content_type: entry.content_type.clone(),
                    stem_type: entry.stem_type.clone(),
                    watch: entry.watch,
                    checked: Instant::now(),
                });
                cache
                    .entries
                    .insert(key(path).into(), Arc::clone(&refreshed));
                Some(refreshed)
            }
            _ => {
                cache.remove(path);
                None
            }
        }
    }

    /// Whether `path` is known not to exist (recorded by [`FileCache::note_absent`], and
    /// nothing changed in its directory since, within [`REVALIDATE`]).
    fn known_absent(&mut self, path: &Path) -> bool {
        let Some(cache) = &mut self.cache else {
            return false;
        };
        if cache.dirty {
            cache.apply_changes();
        }
        match cache.absent.get(path) {
            Some((_, since)) if since.elapsed() < REVALIDATE => true,
            Some(_) => {
                cache.absent.remove(path);
                false
            }
            None => false,
        }
    }

    /// Records that `path` was just found not to exist, if its directory can be watched. The
    /// absence is confirmed after the watch is set, so a file created in between is not
    /// missed.
    fn note_absent(&mut self, path: &Path) {
        let Some(cache) = &mut self.cache else { return };
        let Some(dir) = path.parent() else { return };
        let Ok(watch) = inotify::add_watch(&cache.inotify, dir, WATCHED) else {
            return;
        };
        if fs::symlink_metadata(path).is_ok() {
            return;
        }
        if cache.absent.len() >= MAX_ENTRIES {
            cache.absent.clear();
        }
        cache
            .absent
            .insert(path.to_path_buf(), (watch, Instant::now()));
    }

    /// Reads a small regular file that was just opened and keeps it (with pread: the file's
    /// offset stays where sendfile expects it). None if it does not fit, cannot be cached, or
    /// changed while it was read.
    fn load(&mut self, path: &Path, file: &File, metadata: &Metadata) -> Option<Arc<Entry>> {
        if !metadata.is_file() || metadata.len() > MAX_FILE {
            return None;
        }
        let cache = self.cache.as_mut()?;
        if cache
            .refused
            .get(path)
            .is_some_and(|since| since.elapsed() < REVALIDATE)
        {
            return None;
        }
        // Through a symlink, the watched directory would not be the file's own: never cached.
        if fs::canonicalize(path).ok()? != path {
            cache.refuse(path);
            return None;
        }
        let mut content = vec![0; metadata.len() as usize + 1];
        let mut filled = 0;
        while filled < content.len() {
            match file.read_at(&mut content[filled..], filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        content.truncate(filled);
        let after = file.metadata().ok()?;
        if content.len() as u64 != after.len() || !same_file(&after, metadata) {
            return None;
        }
        let entry = cache.insert(path, content, after);
        if entry.is_none() {
            cache.refuse(path);
        }
        entry
    }
}

/// The name a precompressed sibling (`NAME.gz`, `NAME.br`, `NAME.zst`) is the compressed
/// form of.
fn stem(key: &[u8]) -> Option<&[u8]> {
    [b".gz".as_slice(), b".br", b".zst"]
        .iter()
        .find_map(|suffix| key.strip_suffix(*suffix))
}

fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.ino() == b.ino()
        && a.dev() == b.dev()
        && a.len() == b.len()
        && a.mtime() == b.mtime()
        && a.mtime_nsec() == b.mtime_nsec()
        && a.ctime() == b.ctime()
        && a.ctime_nsec() == b.ctime_nsec()
}

impl Cache {
    fn insert(&mut self, path: &Path, content: Vec<u8>, metadata: Metadata) -> Option<Arc<Entry>> {
        let dir = path.parent()?;
        // Changes before the watch exists are caught by comparing with what was read.
        let watch = inotify::add_watch(&self.inotify, dir, WATCHED).ok()?;
        let current = fs::metadata(path).ok()?;
        if !same_file(&current, &metadata) {
            return None;
        }
        if self.entries.len() >= MAX_ENTRIES || self.bytes + content.len() > MAX_BYTES {
            self.entries.clear();
            self.refused.clear();
            self.absent.clear();
            self.bytes = 0;
        }
        self.bytes += content.len();
        let stem_type = stem(key(path))
            .map(|stem| content_type(Path::new(std::ffi::OsStr::from_bytes(stem))).into());
        let entry = Arc::new(Entry {
            content: content.into(),
            key: key(path).into(),
            validators: Validators::of(&metadata),
            content_type: content_type(path).into(),
            stem_type,
            metadata,
            watch,
            checked: Instant::now(),
        });
        if let Some(old) = self.entries.insert(key(path).into(), Arc::clone(&entry)) {
            self.bytes -= old.content.len();
        }
        Some(entry)
    }

    fn refuse(&mut self, path: &Path) {
        if self.refused.len() >= MAX_ENTRIES {
            self.refused.clear();
        }
        self.refused.insert(path.to_path_buf(), Instant::now());
    }

    fn remove(&mut self, path: &Path) {
        if let Some(old) = self.entries.remove(key(path)) {
            self.bytes -= old.content.len();
        }
    }

    /// Drops the entries of every directory inotify reports a change in.
    fn apply_changes(&mut self) {
        self.dirty = false;
        let mut buffer = [MaybeUninit::<u8>::uninit(); 4096];
        let mut changed: Vec<i32> = Vec::new();
        let mut overflow = false;
        // The reader refills its buffer from the fd until the queue is empty (EAGAIN).
        let mut reader = inotify::Reader::new(&self.inotify, &mut buffer);
        while let Ok(event) = reader.next() {
            if event.events().contains(inotify::ReadFlags::QUEUE_OVERFLOW) {
                overflow = true;
            } else if !changed.contains(&event.wd()) {
                changed.push(event.wd());
            }
        }
        if overflow {
            self.entries.clear();
            self.absent.clear();
            self.bytes = 0;
            self.variants.clear();
            self.variant_bytes = 0;
            self.changes += 1;
            self.last_unknown = self.changes;
            return;
        }
        if changed.is_empty() {
            return;
        }
        self.changes += 1;
        if self.last_change.len() >= MAX_ENTRIES {
            self.last_change.clear();
            self.last_unknown = self.changes;
        }
        for watch in &changed {
            self.last_change.insert(*watch, self.changes);
        }
        let mut dropped = 0;
        self.variants.retain(|_, variants| {
            let keep = !changed.contains(&variants.watch);
            if !keep {
                dropped += variants.bytes();
            }
            keep
        });
        self.variant_bytes -= dropped;
        self.absent.retain(|_, (watch, _)| !changed.contains(watch));
        let mut freed = 0;
        self.entries.retain(|_, entry| {
            let keep = !changed.contains(&entry.watch);
            if !keep {
                freed += entry.content.len();
            }
            keep
        });
        self.bytes -= freed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("webserv-cache-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn cache_file(cache: &mut FileCache, path: &Path) -> Option<Arc<Entry>> {
        let file = File::open(path).unwrap();
        let metadata = file.metadata().unwrap();
        cache.load(path, &file, &metadata)
    }

    #[test]
    fn an_entry_keeps_its_type_and_validators_and_a_gz_entry_the_type_of_its_stem() {
        let mut cache = FileCache::new();
        let dir = temp_dir("types");
        let gz = dir.join("page.html.gz");
        fs::write(&gz, b"x").unwrap();
        let entry = cache_file(&mut cache, &gz).unwrap();
        assert_eq!(*entry.content_type, super::content_type(&gz));
        assert_ne!(
            *entry.content_type,
            super::content_type(&dir.join("page.html"))
        );
        assert_eq!(entry.stem_type.as_deref(), Some("text/html; charset=utf-8"));
        let plain = dir.join("page.txt");
        fs::write(&plain, b"y").unwrap();
        let entry = cache_file(&mut cache, &plain).unwrap();
        assert_eq!(&*entry.content_type, "text/plain; charset=utf-8");
        assert_eq!(entry.stem_type, None);
        let fresh = Validators::of(&fs::metadata(&plain).unwrap());
        assert_eq!(entry.validators.etag(), fresh.etag());
        assert_eq!(entry.validators.last_modified(), fresh.last_modified());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_small_file_is_served_from_memory_until_it_changes() {
        let mut cache = FileCache::new();
        let dir = temp_dir("change");
        let path = dir.join("a.txt");
        fs::write(&path, b"one").unwrap();
        assert_eq!(&*cache_file(&mut cache, &path).unwrap().content, b"one");
        cache.begin_batch();
        assert_eq!(&*cache.lookup(&path).unwrap().content, b"one");
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"two")
            .unwrap();
        cache.begin_batch();
        assert!(
            cache.lookup(&path).is_none(),
            "a modified file must not be served from the cache"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replacing_or_deleting_a_file_drops_it() {
        let mut cache = FileCache::new();
        let dir = temp_dir("replace");
        let path = dir.join("b.txt");
        fs::write(&path, b"old").unwrap();
        cache_file(&mut cache, &path).unwrap();
        fs::write(dir.join("b.tmp"), b"new").unwrap();
        fs::rename(dir.join("b.tmp"), &path).unwrap();
        cache.note_possible_change();
        assert!(cache.lookup(&path).is_none());
        cache_file(&mut cache, &path).unwrap();
        fs::remove_file(&path).unwrap();
        cache.note_possible_change();
        assert!(cache.lookup(&path).is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_reached_through_a_symlink_is_not_cached_and_not_read_again_at_once() {
        let mut cache = FileCache::new();
        let dir = temp_dir("symlink");
        fs::write(dir.join("real.txt"), b"real").unwrap();
        std::os::unix::fs::symlink(dir.join("real.txt"), dir.join("link.txt")).unwrap();
        let link = dir.join("link.txt");
        assert!(cache_file(&mut cache, &link).is_none());
        assert!(cache.cache.as_ref().unwrap().refused.contains_key(&link));
        assert!(cache_file(&mut cache, &link).is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_absent_path_is_remembered_until_it_is_created() {
        let mut cache = FileCache::new();
        let dir = temp_dir("absent");
        let path = dir.join("x.css.gz");
        assert!(!cache.known_absent(&path));
        cache.note_absent(&path);
        cache.begin_batch();
        assert!(cache.known_absent(&path));
        fs::write(&path, b"now here").unwrap();
        cache.begin_batch();
        assert!(
            !cache.known_absent(&path),
            "a created file must not stay absent"
        );
        // A path that exists is never recorded as absent.
        cache.note_absent(&path);
        assert!(!cache.known_absent(&path));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn many_cached_files_each_answer_with_their_own_content() {
        let mut cache = FileCache::new();
        let dir = temp_dir("many");
        let paths: Vec<PathBuf> = (0..300).map(|i| dir.join(format!("f{i}.txt"))).collect();
        for (i, path) in paths.iter().enumerate() {
            fs::write(path, format!("content {i}")).unwrap();
        }
        // The writes' inotify events are taken in before anything is cached.
        cache.begin_batch();
        assert!(cache.lookup(&paths[0]).is_none());
        for path in &paths {
            cache_file(&mut cache, path).unwrap();
        }
        for (i, path) in paths.iter().enumerate() {
            let entry = cache.lookup(path).expect("a cached file is found");
            assert_eq!(&*entry.content, format!("content {i}").as_bytes());
        }
        assert!(cache.lookup(&dir.join("f300.txt")).is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_path_hash_separates_paths_that_differ_in_one_byte_or_length() {
        let hash = |bytes: &[u8]| {
            let mut hasher = PathHasher::default();
            hasher.write(bytes);
            hasher.finish()
        };
        let base = b"/srv/www/static/index.html".to_vec();
        let mut seen = std::collections::HashSet::new();
        assert!(seen.insert(hash(&base)));
        for i in 0..base.len() {
            let mut other = base.clone();
            other[i] ^= 1;
            assert!(seen.insert(hash(&other)), "byte {i}");
        }
        for len in 0..base.len() {
            assert!(seen.insert(hash(&base[..len])), "prefix of {len} bytes");
        }
        assert_eq!(hash(&base), hash(&base.clone()));
    }

    #[test]
    fn large_files_are_not_cached() {
        let mut cache = FileCache::new();
        let dir = temp_dir("large");
        let path = dir.join("big.bin");
        fs::write(&path, vec![0u8; MAX_FILE as usize + 1]).unwrap();
        assert!(cache_file(&mut cache, &path).is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    fn kind(cache: &mut FileCache, path: &Path) -> &'static str {
        match cache.open(path) {
            Ok(Found::File(FileRep::Known(_))) => "known",
            Ok(Found::File(FileRep::Opened { .. })) => "opened",
            Ok(Found::File(FileRep::Cached(_))) => "cached",
            Ok(_) => "other",
            Err(_) => "error",
        }
    }

    #[test]
    fn a_large_file_with_a_kept_variant_is_known_without_opening_until_it_changes() {
        let mut cache = FileCache::new();
        let dir = temp_dir("known");
        let path = dir.join("big.html");
        fs::write(&path, vec![b'a'; MAX_FILE as usize + 1]).unwrap();
        assert_eq!(kind(&mut cache, &path), "opened");
        let Ok(Found::File(rep)) = cache.open(&path) else {
            panic!("no file");
        };
        let origin = rep.origin(&path);
        let fill = cache.begin_variant(&origin, Coding::Gzip, 6).unwrap();
        // Another exchange asking meanwhile makes none of its own.
        assert!(cache.begin_variant(&origin, Coding::Gzip, 6).is_none());
        cache.end_variant(fill, Some(b"zipped".to_vec()));
        let Ok(Found::File(FileRep::Known(known))) = cache.open(&path) else {
            panic!("not known");
        };
        assert_eq!(known.origin.version, origin.version);
        assert_eq!(
            known.validators.etag(),
            Validators::of(&fs::metadata(&path).unwrap()).etag()
        );
        assert_eq!(
            cache.variant(&known.origin, Coding::Gzip, 6).as_deref(),
            Some(&b"zipped"[..])
        );
        assert!(cache.variant(&known.origin, Coding::Br, 6).is_none());
        assert!(matches!(
            FileRep::Known(known).body(0, 10),
            Body::Unopened { len: 10, .. }
        ));
        // A change in the directory (inotify) forgets it, and its variants.
        fs::write(&path, vec![b'b'; MAX_FILE as usize + 1]).unwrap();
        cache.note_possible_change();
        assert_eq!(kind(&mut cache, &path), "opened");
        assert!(cache.variant(&origin, Coding::Gzip, 6).is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_variant_of_a_path_through_a_symlink_is_kept_but_its_file_is_opened_each_time() {
        let mut cache = FileCache::new();
        let dir = temp_dir("known-link");
        let real = dir.join("real.html");
        fs::write(&real, vec![b'a'; MAX_FILE as usize + 1]).unwrap();
        let link = dir.join("link.html");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let Ok(Found::File(rep)) = cache.open(&link) else {
            panic!("no file");
        };
        let origin = rep.origin(&link);
        let fill = cache.begin_variant(&origin, Coding::Gzip, 6).unwrap();
        cache.end_variant(fill, Some(b"zipped".to_vec()));
        assert_eq!(kind(&mut cache, &link), "opened");
        assert!(cache.variant(&origin, Coding::Gzip, 6).is_some());
        fs::remove_dir_all(&dir).unwrap();
    }
}
