//! The pre-serialised JSON of every record, kept in chunks of `CHUNK_ROWS` rows and
//! serialised in parallel.

use crate::emulator::data::record::Record;

/// Rows per serialisation chunk (a power of two).
const CHUNK_BITS: u32 = 18;
pub(super) const CHUNK_ROWS: usize = 1 << CHUNK_BITS;

/// The prepared JSON of a list of records: `chunks[i >> CHUNK_BITS]` holds the JSON of
/// record `i`; every chunk but the last is full.
pub(super) struct RowJson {
    chunks: Vec<Chunk>,
}

impl RowJson {
    /// Serialises `records` (in parallel, see [`serialise`]).
    pub(super) fn new(records: &[Record]) -> RowJson {
        RowJson {
            chunks: serialise(records),
        }
    }

    /// Appends the JSON of the next record, starting a new chunk when the last one is full.
    pub(super) fn push(&mut self, r: &Record) {
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK_ROWS) {
            self.chunks.push(Chunk::new(&[]));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push(r);
        }
    }

    /// The prepared JSON of record `i`.
    pub(super) fn get(&self, i: usize) -> &[u8] {
        let chunk = &self.chunks[i >> CHUNK_BITS];
        let k = i & (CHUNK_ROWS - 1);
        &chunk.json[chunk.offsets[k] as usize..chunk.offsets[k + 1] as usize]
    }

    /// Records held, counted chunk by chunk.
    pub(super) fn len(&self) -> usize {
        self.chunks.iter().map(Chunk::len).sum()
    }

    /// Chunks held.
    #[cfg(test)]
    pub(super) fn chunk_count(&self) -> usize {
        self.chunks.len()
    }
}

/// The prepared JSON of `CHUNK_ROWS` consecutive records.
struct Chunk {
    /// The records' JSON objects, concatenated.
    json: Vec<u8>,
    /// `json[offsets[k]..offsets[k + 1]]` is the chunk's `k`-th record.
    offsets: Vec<u32>,
}

impl Chunk {
    fn new(records: &[Record]) -> Chunk {
        let mut chunk = Chunk {
            json: Vec::with_capacity(records.len() * 224),
            offsets: Vec::with_capacity(records.len() + 1),
        };
        chunk.offsets.push(0);
        for r in records {
            chunk.push(r);
        }
        chunk
    }

    /// Appends the JSON of one more record.
    fn push(&mut self, r: &Record) {
        let start = self.json.len();
        r.write_json(&mut self.json);
        // A chunk of 2^18 rows stays far below 4 GiB unless rows are huge; fall back to an
        // empty entry rather than wrapping around.
        match u32::try_from(self.json.len()) {
            Ok(end) => self.offsets.push(end),
            Err(_) => {
                self.json.truncate(start);
                self.offsets.push(self.offsets.last().copied().unwrap_or(0));
            }
        }
    }

    /// Records in the chunk.
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }
}

/// Serialises records into chunks of `CHUNK_ROWS`, on up to 8 threads.
fn serialise(records: &[Record]) -> Vec<Chunk> {
    let parts: Vec<&[Record]> = records.chunks(CHUNK_ROWS).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(parts.len());
    if threads <= 1 {
        return parts.iter().map(|p| Chunk::new(p)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, Chunk)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(part) = parts.get(i) else { break };
                        mine.push((i, Chunk::new(part)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(mine) => mine,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, c)| c).collect()
}
