// Device memory and device queries (cuda/include/embcomp/cuda/device_memory.hpp). Under nvcc
// the CUDA runtime; in host mode (host/) aligned host memory and memcpy.
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "backend.cuh"
#include "embcomp/core/error.hpp"
#include "embcomp/cuda/device_memory.hpp"

namespace embcomp::cuda {

#if defined(__CUDACC__)

namespace detail {
void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(std::string("cuda: ") + what + ": " + cudaGetErrorString(status));
  }
}
}  // namespace detail

bool host_shim() {
  return false;
}

bool device_present() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

std::string device_description() {
  if (!device_present()) return "no CUDA device";
  int device = 0;
  detail::check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  cudaDeviceProp prop{};
  detail::check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  return std::string(prop.name) + ", compute capability " + std::to_string(prop.major) + "." +
         std::to_string(prop.minor) + ", " + std::to_string(prop.totalGlobalMem >> 20) + " MiB";
}

void synchronize() {
  detail::check_cuda(cudaDeviceSynchronize(), "synchronize");
}

static void* allocate(std::size_t bytes) {
  void* data = nullptr;
  const cudaError_t status = cudaMalloc(&data, bytes);
  if (status != cudaSuccess) {
    throw Error("cuda: cannot allocate " + std::to_string(bytes) +
                " bytes on the device: " + cudaGetErrorString(status));
  }
  return data;
}
static void release(void* data) {
  cudaFree(data);
}

void copy_to_host(void* host, const void* device, std::size_t bytes) {
  if (bytes > 0)
    detail::check_cuda(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost), "copy to host");
}
void copy_to_device(void* device, const void* host, std::size_t bytes) {
  if (bytes > 0)
    detail::check_cuda(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice), "copy to device");
}
void zero_device(void* device, std::size_t bytes) {
  if (bytes > 0) detail::check_cuda(cudaMemset(device, 0, bytes), "memset");
}
void fill_device(void* device, int value, std::size_t bytes) {
  if (bytes > 0) detail::check_cuda(cudaMemsetAsync(device, value, bytes), "memset");
}

#else  // host mode

bool host_shim() {
  return true;
}
bool device_present() {
  return false;
}
std::string device_description() {
  return "host shim (the CUDA kernels run serially on the CPU)";
}
void synchronize() {}

static void* allocate(std::size_t bytes) {
  // 256-byte alignment, as cudaMalloc gives.
  void* data = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (data == nullptr)
    throw Error("cuda (host shim): cannot allocate " + std::to_string(bytes) + " bytes");
  return data;
}
static void release(void* data) {
  std::free(data);
}

void copy_to_host(void* host, const void* device, std::size_t bytes) {
  if (bytes > 0) std::memcpy(host, device, bytes);
}
void copy_to_device(void* device, const void* host, std::size_t bytes) {
  if (bytes > 0) std::memcpy(device, host, bytes);
}
void zero_device(void* device, std::size_t bytes) {
  if (bytes > 0) std::memset(device, 0, bytes);
}
void fill_device(void* device, int value, std::size_t bytes) {
  if (bytes > 0) std::memset(device, value, bytes);
}

#endif

DeviceBuffer::DeviceBuffer(std::size_t bytes)
    : data_(bytes > 0 ? allocate(bytes) : nullptr), bytes_(bytes) {}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) release(data_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) release(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::upload(const void* host, std::size_t bytes) {
  if (bytes > bytes_)
    throw InvalidArgument("cuda: upload of " + std::to_string(bytes) + " bytes into a buffer of " +
                          std::to_string(bytes_));
  copy_to_device(data_, host, bytes);
}

void DeviceBuffer::download(void* host, std::size_t bytes) const {
  if (bytes > bytes_)
    throw InvalidArgument("cuda: download of " + std::to_string(bytes) +
                          " bytes from a buffer of " + std::to_string(bytes_));
  copy_to_host(host, data_, bytes);
}

void DeviceBuffer::zero() {
  zero_device(data_, bytes_);
}

}  // namespace embcomp::cuda
