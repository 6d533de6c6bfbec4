// device.cu — see device.cuh.
#include "gpu/device.cuh"

#include <cuda_runtime.h>
#include <dirent.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace wc::gpu {

namespace {

std::string read_line(const std::string &path) {
    std::ifstream f(path);
    std::string s;
    std::getline(f, s);
    return s;
}

const char *vendor_name(const std::string &id) {
    if (id == "0x10de") return "NVIDIA";
    if (id == "0x1002") return "AMD";
    if (id == "0x8086") return "Intel";
    if (id == "0x1af4") return "virtio";
    if (id == "0x1234") return "QEMU";
    return nullptr;
}

[[noreturn]] void unavailable(const char *cause, const std::string &sentence) {
    fail(WC_ERR_BACKEND_UNAVAILABLE, strfmt("cuda: %s: %s", cause, sentence.c_str()));
}

}  // namespace

std::string pci_display_devices() {
    const std::string root = "/sys/bus/pci/devices";
    DIR *d = opendir(root.c_str());
    if (!d) return "no PCI bus visible";
    std::vector<std::string> found;
    while (dirent *e = readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        // PCI class 0x03xxxx: display controllers (VGA, 3D).
        const std::string cls = read_line(root + "/" + name + "/class");
        if (cls.rfind("0x03", 0) != 0) continue;
        const std::string vendor = read_line(root + "/" + name + "/vendor");
        const char *v = vendor_name(vendor);
        found.push_back(strfmt("%s GPU at %s", v ? v : ("vendor " + vendor).c_str(), name.c_str()));
    }
    closedir(d);
    if (found.empty()) return "no display controllers";
    std::string out;
    for (size_t i = 0; i < found.size(); ++i) out += (i ? ", " : "") + found[i];
    return out;
}

DeviceInfo open_device(int index) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice || (e == cudaSuccess && count == 0)) {
        const bool driver = std::ifstream("/proc/driver/nvidia/version").good();
        const std::string pci = pci_display_devices();
        if (!driver && pci.find("NVIDIA") == std::string::npos) {
            unavailable("no_device", "no NVIDIA GPU on this host (PCI scan: " + pci + ")");
        }
        if (!driver) unavailable("no_driver", "the NVIDIA driver is not loaded (PCI scan: " + pci + ")");
        unavailable("no_device", strfmt("the NVIDIA driver reports no usable device (%s; PCI scan: %s)",
                                        cudaGetErrorName(e), pci.c_str()));
    }
    if (e != cudaSuccess) unavailable("cuda_error", strfmt("cudaGetDeviceCount failed: %s", cudaGetErrorString(e)));
    if (index < 0 || index >= count) {
        unavailable("device_out_of_range", strfmt("device index %d is out of range: this host has %d CUDA device%s (0..%d)",
                                                  index, count, count == 1 ? "" : "s", count - 1));
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) unavailable("cuda_error", "cannot read device properties");
    DeviceInfo info;
    info.index = index;
    info.name = prop.name;
    info.cc_major = prop.major;
    info.cc_minor = prop.minor;
    info.total_bytes = prop.totalGlobalMem;
    cudaRuntimeGetVersion(&info.runtime_version);
    cudaDriverGetVersion(&info.driver_version);
    if (prop.major * 10 + prop.minor < kMinComputeCapability) {
        unavailable("compute_capability_too_old",
                    strfmt("device %d (%s) has compute capability %d.%d; this build needs %d.%d or newer", index,
                           prop.name, prop.major, prop.minor, kMinComputeCapability / 10, kMinComputeCapability % 10));
    }
    const cudaError_t s = cudaSetDevice(index);
    if (s != cudaSuccess) unavailable("cuda_error", strfmt("cudaSetDevice(%d) failed: %s", index, cudaGetErrorString(s)));
    return info;
}

}  // namespace wc::gpu
