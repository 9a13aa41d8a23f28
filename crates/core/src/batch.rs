//! Planning Graph `$batch` calls: request ids, calls of at most 20 that keep requests joined by
//! `dependsOn` together, and which requests of an answered call to send again.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use crate::encode::decimal;
use crate::error::{Error, ErrorCode};

/// The most requests Graph takes in one `$batch`.
pub const MAX_BATCH_REQUESTS: usize = 20;

/// An id for every request: the caller's where given, else `"1"`, `"2"`, … skipping any id a
/// caller used.
pub fn assign_ids<S: AsRef<str>>(ids: &[Option<S>]) -> Vec<String> {
    let mut next = 0;
    ids.iter()
        .map(|id| match id {
            Some(id) => id.as_ref().to_owned(),
            None => loop {
                next += 1;
                let made = decimal(next);
                if !ids.iter().flatten().any(|taken| taken.as_ref() == made) {
                    break made;
                }
            },
        })
        .collect()
}

/// Splits requests, given as `(id, dependsOn)`, into `$batch` calls of at most
/// [`MAX_BATCH_REQUESTS`]: each group of requests joined by `dependsOn` (directly or through
/// others) stays in one call, since Graph resolves `dependsOn` only within one; groups are placed
/// in the order of their first request, a call filled until the next group does not fit. A
/// `dependsOn` naming no request in the list is ignored here (Graph will refuse it).
///
/// Returns the indices of each call's requests, in ascending order; `invalid_json_body` when a
/// group is larger than one call.
pub fn plan_chunks<S: AsRef<str>, R: AsRef<str>, D: AsRef<[R]>>(items: &[(S, D)]) -> Result<Vec<Vec<usize>>, Error> {
    let mut parent: Vec<usize> = (0..items.len()).collect();
    for (i, (_, depends_on)) in items.iter().enumerate() {
        for dep in depends_on.as_ref() {
            if let Some(j) = index_of(items, dep.as_ref()) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                if let Some(slot) = parent.get_mut(a.max(b)) {
                    *slot = a.min(b);
                }
            }
        }
    }
    let mut group_of_root: Vec<Option<usize>> = vec![None; items.len()];
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in 0..items.len() {
        let r = root(&mut parent, i);
        let Some(slot) = group_of_root.get_mut(r) else { continue };
        let g = *slot.get_or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        if let Some(group) = groups.get_mut(g) {
            group.push(i);
        }
    }
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut chunk: Vec<usize> = Vec::new();
    for group in groups {
        if group.len() > MAX_BATCH_REQUESTS {
            let first = group.first().and_then(|&i| items.get(i)).map_or("", |(id, _)| id.as_ref());
            return Err(Error::new(
                ErrorCode::InvalidJsonBody,
                [
                    &decimal(group.len()),
                    " batch requests are joined by dependsOn (with the request '",
                    first,
                    "'); Graph resolves dependsOn only within one $batch, which takes at most ",
                    &decimal(MAX_BATCH_REQUESTS),
                ]
                .concat(),
            ));
        }
        if chunk.len() + group.len() > MAX_BATCH_REQUESTS {
            chunks.push(core::mem::take(&mut chunk));
        }
        chunk.extend(group);
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    // Each chunk in the callers' order: an insertion sort, as chunks hold at most 20 indices
    // (and the browser module carries no general sort).
    for c in &mut chunks {
        for i in 1..c.len() {
            let mut j = i;
            while j > 0 && c[j - 1] > c[j] {
                c.swap(j - 1, j);
                j -= 1;
            }
        }
    }
    Ok(chunks)
}

/// Which requests of an answered `$batch` call, given as `(id, dependsOn)`, to send again, given
/// the status the answer gave per id: those throttled (429) or refused as unavailable (503), and
/// those answered 424 (Failed Dependency) that depend on a request sent again, transitively.
/// Returns their indices, in ascending order.
pub fn to_resend<S: AsRef<str>, R: AsRef<str>, D: AsRef<[R]>, T: AsRef<str>>(
    items: &[(S, D)],
    statuses: &[(T, u16)],
) -> Vec<usize> {
    let status = |id: &str| statuses.iter().find(|(k, _)| k.as_ref() == id).map(|&(_, s)| s);
    let mut again: Vec<bool> = items.iter().map(|(id, _)| matches!(status(id.as_ref()), Some(429 | 503))).collect();
    loop {
        let mut changed = false;
        for (i, (id, depends_on)) in items.iter().enumerate() {
            let waits_on_resent = || {
                depends_on
                    .as_ref()
                    .iter()
                    .any(|d| index_of(items, d.as_ref()).is_some_and(|j| again.get(j) == Some(&true)))
            };
            if again.get(i) == Some(&false) && status(id.as_ref()) == Some(424) && waits_on_resent() {
                if let Some(flag) = again.get_mut(i) {
                    *flag = true;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    again.iter().enumerate().filter(|&(_, &a)| a).map(|(i, _)| i).collect()
}

/// The index of the first request with `id`. A linear search: a batch is planned once, and the
/// browser module carries no map or sort code for it.
fn index_of<S: AsRef<str>, D>(items: &[(S, D)], id: &str) -> Option<usize> {
    items.iter().position(|(k, _)| k.as_ref() == id)
}

/// The root of `i`'s group, halving the path on the way.
fn root(parent: &mut [usize], mut i: usize) -> usize {
    while let Some(&p) = parent.get(i) {
        if p == i {
            break;
        }
        let grand = parent.get(p).copied().unwrap_or(p);
        if let Some(slot) = parent.get_mut(i) {
            *slot = grand;
        }
        i = grand;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn independent(n: usize) -> Vec<(String, Vec<String>)> {
        (1..=n).map(|i| (i.to_string(), Vec::new())).collect()
    }

    #[test]
    fn made_up_ids_skip_the_callers() {
        assert_eq!(assign_ids(&[None::<&str>, None, None]), ["1", "2", "3"]);
        assert_eq!(assign_ids(&[None, Some("2"), None, Some("a"), None]), ["1", "2", "3", "a", "4"]);
        assert_eq!(assign_ids(&[Some("1"), None, Some("3"), None]), ["1", "2", "3", "4"]);
        assert_eq!(assign_ids(&[Some("1".to_owned()), Some("2".to_owned()), None]), ["1", "2", "3"]);
        assert_eq!(assign_ids::<&str>(&[]), Vec::<String>::new());
    }

    #[test]
    fn independent_requests_fill_calls_of_twenty() {
        let chunks = plan_chunks(&independent(45)).expect("plan");
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [20, 20, 5]);
        assert_eq!(chunks.concat(), (0..45).collect::<Vec<_>>());
        assert_eq!(plan_chunks(&independent(20)).expect("plan").len(), 1);
        assert_eq!(plan_chunks(&independent(0)).expect("plan"), Vec::<Vec<usize>>::new());
    }

    #[test]
    fn a_dependent_pair_across_the_limit_moves_together() {
        // 21 requests; the 21st depends on the 20th, so both go into the second call.
        let mut items = independent(21);
        items[20].1.push("20".into());
        let chunks = plan_chunks(&items).expect("plan");
        assert_eq!(chunks, vec![(0..19).collect::<Vec<_>>(), vec![19, 20]]);
        // A pair joined far apart stays in one call, and groups keep their first request's order.
        let items: Vec<(&str, Vec<&str>)> = vec![("a", vec![]), ("b", vec![]), ("c", vec!["a"])];
        assert_eq!(plan_chunks(&items).expect("plan"), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn chains_join_and_unknown_dependencies_are_ignored() {
        let mut items = independent(30);
        // Requests 12 to 30 form a chain of 19: after the 11 before it, it needs a call of its own.
        for (i, item) in items.iter_mut().enumerate().skip(12) {
            item.1.push(i.to_string());
        }
        let chunks = plan_chunks(&items).expect("plan");
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [11, 19]);
        assert_eq!(chunks[1], (11..30).collect::<Vec<_>>());
        // Joining requests 1 and 2 to it makes 21, more than one call takes.
        items[0].1.push("12".into());
        items[1].1.push("12".into());
        let e = plan_chunks(&items).expect_err("too large");
        assert_eq!(e.code(), ErrorCode::InvalidJsonBody);
        assert_eq!(
            e.detail(),
            "21 batch requests are joined by dependsOn (with the request '1'); Graph resolves dependsOn only within one $batch, which takes at most 20"
        );
        // A dependsOn naming a request not in the list joins nothing.
        let mut items = independent(25);
        for item in &mut items {
            item.1.push("missing".into());
        }
        assert_eq!(plan_chunks(&items).expect("plan").len(), 2);
    }

    #[test]
    fn cycles_and_self_references_do_not_loop() {
        let items: Vec<(&str, Vec<&str>)> = vec![("a", vec!["b"]), ("b", vec!["a"]), ("c", vec!["c"])];
        assert_eq!(plan_chunks(&items).expect("plan"), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn throttled_requests_and_their_dependents_are_resent() {
        let items: Vec<(&str, &[&str])> =
            vec![("1", &[]), ("2", &["1"]), ("3", &["2"]), ("4", &[]), ("5", &["4"]), ("6", &[]), ("7", &["3"])];
        let statuses = [("1", 429), ("2", 424), ("3", 424), ("4", 200), ("5", 201), ("6", 503), ("7", 424)];
        assert_eq!(to_resend(&items, &statuses), [0, 1, 2, 5, 6]);
        // A 424 whose dependency succeeded (or failed for good) is not sent again.
        let statuses = [("1", 400), ("2", 424), ("3", 424), ("4", 200), ("5", 200), ("6", 200), ("7", 424)];
        assert_eq!(to_resend(&items, &statuses), Vec::<usize>::new());
        // The answer may list ids in any order; a missing one is not resent.
        let statuses = [("7", 424), ("3", 424), ("2", 429)];
        assert_eq!(to_resend(&items, &statuses), [1, 2, 6]);
    }
}
