// device.cuh — opening a CUDA device, with a precise reason when that is impossible.
#pragma once

#include <cstddef>
#include <string>

namespace wc::gpu {

// Oldest compute capability the build has device code for (sm_80).
constexpr int kMinComputeCapability = 80;

struct DeviceInfo {
    int index = 0;
    std::string name;
    int cc_major = 0, cc_minor = 0;
    size_t total_bytes = 0;
    int runtime_version = 0;
    int driver_version = 0;
};

// Validates `index` and makes it the current device. Throws CoreError(BACKEND_UNAVAILABLE) with a
// message "cuda: <cause>: <sentence>", cause one of no_driver, no_device, device_out_of_range,
// compute_capability_too_old, cuda_error.
DeviceInfo open_device(int index);

// What a PCI scan of /sys/bus/pci/devices finds among display controllers, e.g.
// "AMD GPU at 0000:03:00.0"; "no display controllers" when none.
std::string pci_display_devices();

}  // namespace wc::gpu
