//! Mapped tasks in the coordinator: a task's children as slots of the run, their
//! decisions, and the task's end with its last child.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::flow::NO_ITEMS;
use crate::map::MapInfo;
use crate::pipeline;
use crate::report::{PAUSED_BY_BODY, RESUMED, RunReport};
use crate::state::{State, StateKind};
use crate::trigger::Verdict;

use super::attempt::{Attempts, TaskSpan};

impl RunReport {
    /// The slots that stand for a task's outcome: its children once it has mapped, or itself.
    pub(super) fn slots_of(&self, task: u32) -> std::ops::Range<u32> {
        match self.maps.get(&task) {
            Some(map) => map.first..map.first + map.len,
            None => task..task + 1,
        }
    }

    /// A mapped task whose upstream tasks have finished: skip propagation, then one
    /// child per item, or `Failed` when a collection to map over is missing.
    pub(super) fn map(&mut self, task: u32, span: TaskSpan, attempts: &mut Attempts) {
        let node = &self.flow.nodes[task as usize];
        let upstream = self.graph.upstream.of(task);
        if node.options.skip_on_upstream_skip
            && upstream
                .iter()
                .any(|&up| self.states[up as usize].is_skipped())
        {
            let skipped = State::fixed(StateKind::Skipped, pipeline::UPSTREAM_SKIPPED);
            return self.finish(task, skipped, None, &span);
        }
        let mut len = (node.items != NO_ITEMS).then_some(node.items as usize);
        for edge in &node.edges {
            let Some(count) = edge.each else { continue };
            let up = edge.upstream;
            let items = match self.maps.get(&up) {
                Some(map) if edge.batch == 0 => Some(map.len as usize),
                _ => self.results[up as usize].as_deref().and_then(count),
            };
            let items = match edge.batch {
                0 => items,
                size => items.map(|items| items.div_ceil(size as usize)),
            };
            let Some(items) = items else {
                let message = format!(
                    "No upstream states can be mapped over: `{}` is {} and has no items.",
                    self.flow.nodes[up as usize].name,
                    self.states[up as usize].kind()
                );
                return self.finish(task, State::failed(message), None, &span);
            };
            len = Some(len.map_or(items, |len| len.min(items)));
        }
        let len = len.unwrap_or(0).min(u32::MAX as usize / 2) as u32;
        let first = self.states.len() as u32;
        let total = first as usize + len as usize;
        self.states.resize(total, State::pending());
        self.results.resize_with(total, || None);
        self.remaining.resize(total, 0);
        self.flags.resize(total, 0);
        self.children.extend((0..len).map(|index| (task, index)));
        self.log.reserve(len as usize * 2);
        attempts.grow(total);
        let node = &self.flow.nodes[task as usize];
        let children_run = {
            let options = &node.options;
            let per_child = node.edges.iter().any(|edge| {
                edge.each.is_some() && edge.batch == 0 && self.maps.contains_key(&edge.upstream)
            });
            let upstream = self.graph.upstream.of(task);
            !per_child
                && options.default_trigger()
                && options.skip_on_upstream_skip
                && matches!(
                    pipeline::before_run_default(
                        upstream.iter().map(|&up| &self.states[up as usize])
                    ),
                    Verdict::Run
                )
        };
        if let Some(limit) = node
            .options
            .limits
            .as_ref()
            .and_then(|limits| limits.max_concurrency)
        {
            self.task_slots
                .entry(task)
                .or_insert_with(|| Arc::new(Semaphore::new(limit)));
        }
        self.maps.insert(
            task,
            MapInfo {
                first,
                len,
                pending: len,
                children_run,
            },
        );
        if len == 0 {
            return self.finish_map(task, &span);
        }
        let mapping = State::new(StateKind::Running, format!("Mapping over {len} items."));
        self.set_state(task, mapping, &span);
        // The ready list is a stack: push in reverse so children start in item order.
        self.ready.extend((first..first + len).rev());
    }

    /// A mapped task's child: skip propagation and trigger on its own upstream states.
    pub(super) fn decide_child(&mut self, slot: u32, attempts: &mut Attempts) {
        let (task, index) = self.task_of(slot);
        let index = index.unwrap_or(0);
        let node = &self.flow.nodes[task as usize];
        let span =
            TaskSpan::new(tracing::info_span!("task_run", task = %node.name, map_index = index));
        let idx = slot as usize;
        let flags = self.flags[idx];
        if flags & PAUSED_BY_BODY != 0 {
            self.flags[idx] &= !PAUSED_BY_BODY;
            return self.start_attempt(slot, None, span, attempts);
        }
        if flags == 0 && self.maps.get(&task).is_some_and(|map| map.children_run) {
            // The verdict was taken once for all the children, when the task mapped.
            return self.start_attempt(slot, None, span, attempts);
        }
        let (states, maps) = (&self.states, &self.maps);
        // A mapped argument over a mapped task reads that task's child at the same index.
        let upstream_state = |&up: &u32| -> &State {
            let mapped = node
                .edges
                .iter()
                .any(|edge| edge.upstream == up && edge.each.is_some() && edge.batch == 0);
            match maps.get(&up) {
                Some(map) if mapped => &states[(map.first + index) as usize],
                _ => &states[up as usize],
            }
        };
        let upstream = self.graph.upstream.of(task);
        let options = &node.options;
        let verdict = options.verdict(upstream.iter().map(upstream_state), flags & RESUMED != 0);
        self.apply_verdict(slot, verdict, span, attempts);
    }

    /// A mapped task whose children have all finished: `Mapped`, with their outputs as
    /// its value when every child has one.
    pub(super) fn finish_map(&mut self, task: u32, span: &TaskSpan) {
        let map = self.maps[&task];
        let node = &self.flow.nodes[task as usize];
        let value = node.task.collect(&mut self.results[map.slots()]);
        let mut counts: Vec<(StateKind, u32)> = Vec::new();
        for state in &self.states[map.slots()] {
            match counts.iter_mut().find(|(kind, _)| *kind == state.kind()) {
                Some((_, count)) => *count += 1,
                None => counts.push((state.kind(), 1)),
            }
        }
        let mut message = format!(
            "Mapped over {} item{}",
            map.len,
            if map.len == 1 { "" } else { "s" }
        );
        for (i, (kind, count)) in counts.iter().enumerate() {
            message.push_str(if i == 0 { ": " } else { ", " });
            message.push_str(&format!("{count} {kind}"));
        }
        message.push('.');
        self.finish(task, State::new(StateKind::Mapped, message), value, span);
    }
}
