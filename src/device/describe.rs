//! An adapter described in WebGPU's own vocabulary, whatever API wgpu reached it through.

use std::collections::BTreeMap;

use super::AdapterProfile;

/// What wgpu itself can tell about an adapter, in WebGPU's terms; the browser and native probes
/// add what only they know (vendor strings, RAM, user agent).
pub(crate) fn describe(adapter: &wgpu::Adapter) -> AdapterProfile {
    let info = adapter.get_info();
    let mut features: Vec<String> = adapter
        .features()
        .iter()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();
    features.sort();
    AdapterProfile {
        available: true,
        unavailable_reason: None,
        vendor: vendor_name(info.vendor).to_owned(),
        architecture: info.driver.to_lowercase(),
        description: info.name.clone(),
        is_fallback_adapter: info.device_type == wgpu::DeviceType::Cpu,
        backend: info.backend.to_str().to_owned(),
        features,
        limits: spec_limits(&adapter.limits()),
        device_memory_gib: None,
        hardware_concurrency: None,
        user_agent: None,
    }
}

/// PCI vendor ids as WebGPU's lower-case vendor names (Mesa's id covers lavapipe).
fn vendor_name(pci_id: u32) -> &'static str {
    match pci_id {
        0x10de => "nvidia",
        0x1002 | 0x1022 => "amd",
        0x8086 => "intel",
        0x106b => "apple",
        0x5143 => "qualcomm",
        0x13b5 => "arm",
        0x1010 => "imagination",
        0x10005 => "mesa",
        _ => "",
    }
}

/// wgpu's limits under their WebGPU spec names, so profiles read the same everywhere.
fn spec_limits(l: &wgpu::Limits) -> BTreeMap<String, u64> {
    let pairs: [(&str, u64); 26] = [
        ("maxTextureDimension1D", l.max_texture_dimension_1d.into()),
        ("maxTextureDimension2D", l.max_texture_dimension_2d.into()),
        ("maxTextureDimension3D", l.max_texture_dimension_3d.into()),
        ("maxTextureArrayLayers", l.max_texture_array_layers.into()),
        ("maxBindGroups", l.max_bind_groups.into()),
        (
            "maxBindingsPerBindGroup",
            l.max_bindings_per_bind_group.into(),
        ),
        (
            "maxDynamicUniformBuffersPerPipelineLayout",
            l.max_dynamic_uniform_buffers_per_pipeline_layout.into(),
        ),
        (
            "maxDynamicStorageBuffersPerPipelineLayout",
            l.max_dynamic_storage_buffers_per_pipeline_layout.into(),
        ),
        (
            "maxSampledTexturesPerShaderStage",
            l.max_sampled_textures_per_shader_stage.into(),
        ),
        (
            "maxSamplersPerShaderStage",
            l.max_samplers_per_shader_stage.into(),
        ),
        (
            "maxStorageBuffersPerShaderStage",
            l.max_storage_buffers_per_shader_stage.into(),
        ),
        (
            "maxStorageTexturesPerShaderStage",
            l.max_storage_textures_per_shader_stage.into(),
        ),
        (
            "maxUniformBuffersPerShaderStage",
            l.max_uniform_buffers_per_shader_stage.into(),
        ),
        (
            "maxUniformBufferBindingSize",
            l.max_uniform_buffer_binding_size,
        ),
        (
            "maxStorageBufferBindingSize",
            l.max_storage_buffer_binding_size,
        ),
        (
            "minUniformBufferOffsetAlignment",
            l.min_uniform_buffer_offset_alignment.into(),
        ),
        (
            "minStorageBufferOffsetAlignment",
            l.min_storage_buffer_offset_alignment.into(),
        ),
        ("maxVertexBuffers", l.max_vertex_buffers.into()),
        ("maxBufferSize", l.max_buffer_size),
        ("maxVertexAttributes", l.max_vertex_attributes.into()),
        (
            "maxComputeWorkgroupStorageSize",
            l.max_compute_workgroup_storage_size.into(),
        ),
        (
            "maxComputeInvocationsPerWorkgroup",
            l.max_compute_invocations_per_workgroup.into(),
        ),
        (
            "maxComputeWorkgroupSizeX",
            l.max_compute_workgroup_size_x.into(),
        ),
        (
            "maxComputeWorkgroupSizeY",
            l.max_compute_workgroup_size_y.into(),
        ),
        (
            "maxComputeWorkgroupSizeZ",
            l.max_compute_workgroup_size_z.into(),
        ),
        (
            "maxComputeWorkgroupsPerDimension",
            l.max_compute_workgroups_per_dimension.into(),
        ),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
