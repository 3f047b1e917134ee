//! What a model tells the manager about itself, and the validated form the manager keeps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::ManagerError;
use super::inference::InferenceEstimate;

/// A registered model's handle. Numbers are never reused within one manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModelId(u32);

impl ModelId {
    /// The id with this number, for handles that crossed into JS and back.
    pub fn new(raw: u32) -> Self {
        Self(raw)
    }

    /// The number behind the id.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A weight storage type. Serialized in lower case (`"f32"`, `"bf16"`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit float: always computable, including on SwiftShader.
    F32,
    /// 16-bit float: stored and computed natively with `shader-f16`.
    F16,
    /// bfloat16: stored only, converted for compute.
    Bf16,
    /// 8-bit float: stored only, converted for compute.
    F8,
}

impl From<crate::weights::ConvertTarget> for Dtype {
    fn from(target: crate::weights::ConvertTarget) -> Self {
        match target {
            crate::weights::ConvertTarget::F32 => Self::F32,
            crate::weights::ConvertTarget::F16 => Self::F16,
        }
    }
}

/// One layer as the model describes it: its name, when it runs, and its size in each dtype it
/// can be stored in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerSpec {
    /// Unique within the model (`"encoder.layer.3"`).
    pub name: String,
    /// Position in the forward pass; layers are kept sorted by it (ties keep their given order).
    pub order: u32,
    /// Bytes of the layer's weights per storage dtype.
    pub bytes: BTreeMap<Dtype, u64>,
}

impl LayerSpec {
    /// A layer stored in one dtype.
    pub fn new(name: impl Into<String>, order: u32, dtype: Dtype, bytes: u64) -> Self {
        Self {
            name: name.into(),
            order,
            bytes: BTreeMap::from([(dtype, bytes)]),
        }
    }
}

/// A model as registered: its layers, the dtype chosen for this device, its inference memory,
/// and whether its weights are already in the persistent cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    /// A name for messages and the memory map.
    pub name: String,
    /// The storage dtype chosen for this device (f16 with `shader-f16`, else f32).
    pub dtype: Dtype,
    /// Every layer; each must list a size for `dtype`.
    pub layers: Vec<LayerSpec>,
    /// Inference memory as a function of the workload.
    pub inference: InferenceEstimate,
    /// The weights are in the persistent cache already (else only at their URL).
    pub cached: bool,
}

/// One validated layer: name and size in the chosen dtype.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layer {
    pub name: String,
    pub bytes: u64,
}

/// A validated model: layers in order of use, sizes that sum without overflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Model {
    pub name: String,
    pub layers: Vec<Layer>,
    pub size: u64,
    pub largest_layer: u64,
    pub inference: InferenceEstimate,
    pub cached: bool,
}

impl TryFrom<ModelSpec> for Model {
    type Error = ManagerError;

    /// Checks the spec once so the books can index and sum without further checks.
    fn try_from(spec: ModelSpec) -> Result<Self, Self::Error> {
        let model = spec.name;
        if spec.layers.is_empty() {
            return Err(ManagerError::EmptyModel { model });
        }
        let mut specs = spec.layers;
        specs.sort_by_key(|layer| layer.order);
        let mut layers = Vec::with_capacity(specs.len());
        let mut size = 0_u64;
        for layer in specs {
            if layers.iter().any(|seen: &Layer| seen.name == layer.name) {
                return Err(ManagerError::DuplicateLayer {
                    model,
                    layer: layer.name,
                });
            }
            let Some(&bytes) = layer.bytes.get(&spec.dtype) else {
                return Err(ManagerError::MissingDtype {
                    model,
                    layer: layer.name,
                    dtype: spec.dtype,
                });
            };
            size = size
                .checked_add(bytes)
                .ok_or_else(|| ManagerError::SizeOverflow {
                    model: model.clone(),
                })?;
            layers.push(Layer {
                name: layer.name,
                bytes,
            });
        }
        let largest_layer = layers.iter().map(|layer| layer.bytes).max().unwrap_or(0);
        Ok(Self {
            name: model,
            layers,
            size,
            largest_layer,
            inference: spec.inference,
            cached: spec.cached,
        })
    }
}
