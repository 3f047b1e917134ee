//! What the runtime tells listeners: state changes, out-of-memory events, lost devices and layer
//! moves. Pure data, derived by comparing what was seen before a call with what is true after.

use serde::Serialize;

use crate::manager::{MemoryMap, ModelId, Tier};
use crate::policy::LearnedBudget;

/// One event, as JS listeners receive it in `event.detail` (the variant is `event.type`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RuntimeEvent {
    /// The VRAM state changed (after an out-of-memory step-down).
    #[serde(rename_all = "camelCase")]
    StateChange {
        /// ComfyUI's name of the state before.
        from: String,
        /// And after.
        to: String,
        /// The budget now, in bytes.
        budget_bytes: u64,
    },
    /// The device ran out of memory; the budget stepped down and the call was retried.
    #[serde(rename_all = "camelCase")]
    Oom {
        /// The budget and state learned from it (stored per adapter for the next visit).
        learned: LearnedBudget,
    },
    /// The GPU device was lost.
    #[serde(rename_all = "camelCase")]
    DeviceLost {
        /// Whether a new device took its place (the call that noticed then succeeded).
        replaced: bool,
    },
    /// A layer changed tier.
    #[serde(rename_all = "camelCase")]
    LayerMove {
        /// The model's id (`model.info.id`).
        model: ModelId,
        /// The layer's name.
        layer: String,
        /// Its bytes.
        bytes: u64,
        /// The tier it left.
        from: Tier,
        /// The tier it is in now.
        to: Tier,
    },
}

impl RuntimeEvent {
    /// The DOM event type (`"statechange"`, `"oom"`, `"devicelost"`, `"layermove"`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::StateChange { .. } => "statechange",
            Self::Oom { .. } => "oom",
            Self::DeviceLost { .. } => "devicelost",
            Self::LayerMove { .. } => "layermove",
        }
    }
}

/// A layer move for every layer present in both maps whose tier differs. Layers of models that
/// came or went are not moves (loading and unloading say so themselves).
pub fn layer_moves(before: &MemoryMap, after: &MemoryMap) -> Vec<RuntimeEvent> {
    (after.layers.iter())
        .filter_map(|now| {
            let was = (before.layers.iter())
                .find(|was| was.model == now.model && was.layer == now.layer)?;
            (was.tier != now.tier).then(|| RuntimeEvent::LayerMove {
                model: now.model,
                layer: now.name.clone(),
                bytes: now.bytes,
                from: was.tier,
                to: now.tier,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::LayerEntry;

    fn entry(model: u32, layer: usize, tier: Tier) -> LayerEntry {
        LayerEntry {
            model: ModelId::new(model),
            layer,
            name: format!("layer.{layer}"),
            bytes: 100,
            tier,
            host_copy: false,
            cached: false,
        }
    }

    fn map(layers: Vec<LayerEntry>) -> MemoryMap {
        MemoryMap {
            layers,
            ..MemoryMap::default()
        }
    }

    #[test]
    fn moves_are_the_layers_whose_tier_changed() {
        let before = map(vec![entry(0, 0, Tier::Host), entry(0, 1, Tier::Gpu)]);
        let after = map(vec![
            entry(0, 0, Tier::Gpu),
            entry(0, 1, Tier::Gpu),
            entry(1, 0, Tier::Gpu),
        ]);
        let moves = layer_moves(&before, &after);
        assert_eq!(
            moves,
            vec![RuntimeEvent::LayerMove {
                model: ModelId::new(0),
                layer: "layer.0".into(),
                bytes: 100,
                from: Tier::Host,
                to: Tier::Gpu,
            }]
        );
        assert!(layer_moves(&after, &after).is_empty());
    }

    #[test]
    fn events_serialize_with_their_dom_type() {
        let moved = layer_moves(
            &map(vec![entry(2, 3, Tier::Gpu)]),
            &map(vec![entry(2, 3, Tier::Host)]),
        );
        let json = serde_json::to_value(&moved[0]).unwrap();
        assert_eq!(json["type"], moved[0].kind());
        assert_eq!(
            (json["from"].as_str(), json["to"].as_str()),
            (Some("gpu"), Some("host"))
        );
        let lost = RuntimeEvent::DeviceLost { replaced: true };
        assert_eq!(serde_json::to_value(&lost).unwrap()["type"], "devicelost");
    }
}
