// Device memory of the CUDA backend, behind a CUDA-free header: a byte buffer and a typed array
// on the device. Built by nvcc (cuda/src/runtime.cu), the memory is cudaMalloc'd; built in host
// mode (the shim the CPU tests use), it is host memory and the copies are memcpy.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace embcomp::cuda {

/// Whether this is the host-mode build (kernels run serially on the CPU through the shim).
bool host_shim();
/// Whether this build runs on a GPU (false in host mode, and in a CUDA build without a device).
bool device_present();
/// "host shim", or the device's name, compute capability and memory.
std::string device_description();
/// Waits until the device has finished all work queued so far.
void synchronize();

/// Synchronous copies between host memory and any device memory (a DeviceBuffer's or the
/// caller's), and zeroing of device memory.
void copy_to_host(void* host, const void* device, std::size_t bytes);
void copy_to_device(void* device, const void* host, std::size_t bytes);
void zero_device(void* device, std::size_t bytes);
/// Sets `bytes` bytes of device memory to `value`, asynchronously (ordered before later kernels).
void fill_device(void* device, int value, std::size_t bytes);

/// Bytes on the device, freed with the buffer. Copies are synchronous.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }

  /// Copies `bytes` (at most bytes()) from host memory to the start of the buffer.
  void upload(const void* host, std::size_t bytes);
  /// Copies `bytes` (at most bytes()) from the start of the buffer to host memory.
  void download(void* host, std::size_t bytes) const;
  /// Sets every byte to zero.
  void zero();

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

/// `size` elements of a trivially copyable T on the device.
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t size) : buffer_(size * sizeof(T)), size_(size) {}
  /// A device copy of `host`.
  static DeviceArray from(std::span<const T> host) {
    DeviceArray array(host.size());
    array.buffer_.upload(host.data(), host.size_bytes());
    return array;
  }

  T* data() { return static_cast<T*>(buffer_.data()); }
  const T* data() const { return static_cast<const T*>(buffer_.data()); }
  std::size_t size() const { return size_; }

  void upload(std::span<const T> host) { buffer_.upload(host.data(), host.size_bytes()); }
  std::vector<T> to_host() const {
    std::vector<T> host(size_);
    buffer_.download(host.data(), size_ * sizeof(T));
    return host;
  }
  /// Copies every element into host memory of size() elements.
  void download(T* host) const { buffer_.download(host, size_ * sizeof(T)); }
  void zero() { buffer_.zero(); }
  /// Grows to at least `size` elements (contents are then undefined).
  void reserve(std::size_t size) {
    if (size > size_) *this = DeviceArray(size);
  }

 private:
  DeviceBuffer buffer_;
  std::size_t size_ = 0;
};

}  // namespace embcomp::cuda
