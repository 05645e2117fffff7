/*
 * ctpf_tun: a Linux TUN device for Node through N-API.
 *
 *   open(name, vnetHdr)            -> { fd, name }          (throws Error with .code = errno name)
 *   new Reader(fd, onBatch, maxBatch, bufBytes)              uv_poll on fd; onBatch(buf, lengths, count)
 *   reader.stop()                                            stops polling (idempotent)
 *   reader.ref() / reader.unref()                            keep / do not keep the event loop alive
 *   write(fd, buffers[])           -> number written         (packets the kernel refused are skipped)
 *   close(fd)
 *
 * A read batch is one Buffer holding the packets back to back plus a Uint32Array of their
 * lengths, so JS gets one callback and one allocation per batch instead of one per packet.
 * Packets carry a 10-byte virtio_net_hdr first when the device was opened with vnetHdr.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define CHECK(call)                                                    \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error(env, "ERR_TUN_NAPI", "N-API call failed: " #call); \
      return NULL;                                                     \
    }                                                                  \
  } while (0)

/* Largest packet a read can return: 64 KiB GSO super-packet plus the virtio header. */
#define MAX_PACKET (65535 + 64)

static const char *errno_code(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EBADFD: return "EBADFD";
    case EIO: return "EIO";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EMFILE: return "EMFILE";
    default: return "EUNKNOWN";
  }
}

/* Throws an Error with code (errno name), errno and syscall, like Node's own system errors. */
static void throw_errno(napi_env env, int e, const char *syscall) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s failed: %s (%s)", syscall, strerror(e), errno_code(e));
  napi_value code, message, error, num, sc;
  napi_create_string_utf8(env, errno_code(e), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, e, &num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, error, "errno", num);
  napi_set_named_property(env, error, "syscall", sc);
  napi_throw(env, error);
}

static napi_value get_arg(napi_env env, napi_callback_info info, size_t want, napi_value *argv, napi_value *self) {
  size_t argc = want;
  CHECK(napi_get_cb_info(env, info, &argc, argv, self, NULL));
  if (argc < want) {
    napi_throw_type_error(env, "ERR_TUN_ARGS", "missing arguments");
    return NULL;
  }
  napi_value ok;
  napi_get_boolean(env, 1, &ok);
  return ok;
}

/* open(name: string, vnetHdr: boolean) -> { fd, name } */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_arg(env, info, 2, argv, NULL) == NULL) return NULL;
  char name[64]; /* larger than IFNAMSIZ so that a too-long name is seen, not silently cut */
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok || len == 0 || len > IFNAMSIZ - 1) {
    napi_throw_type_error(env, "ERR_TUN_ARGS", "name must be a string of at most 15 bytes");
    return NULL;
  }
  bool vnet = false;
  CHECK(napi_get_value_bool(env, argv[1], &vnet));

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw_errno(env, errno, "open /dev/net/tun");
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    throw_errno(env, e, "ioctl TUNSETIFF");
    return NULL;
  }
  if (vnet) {
    int hdrsz = (int)sizeof(struct virtio_net_hdr);
    unsigned int offload = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0 || ioctl(fd, TUNSETOFFLOAD, offload) < 0) {
      int e = errno;
      close(fd);
      throw_errno(env, e, "ioctl TUNSETOFFLOAD");
      return NULL;
    }
  }
  napi_value result, jfd, jname;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_int32(env, fd, &jfd));
  CHECK(napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &jname));
  CHECK(napi_set_named_property(env, result, "fd", jfd));
  CHECK(napi_set_named_property(env, result, "name", jname));
  return result;
}

/* write(fd: number, packets: Buffer[]) -> number of packets the kernel took */
static napi_value tun_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_arg(env, info, 2, argv, NULL) == NULL) return NULL;
  int32_t fd;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  uint32_t n = 0;
  CHECK(napi_get_array_length(env, argv[1], &n));
  uint32_t written = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    CHECK(napi_get_element(env, argv[1], i, &el));
    void *data;
    size_t len;
    if (napi_get_buffer_info(env, el, &data, &len) != napi_ok) {
      napi_throw_type_error(env, "ERR_TUN_ARGS", "packets must be Buffers");
      return NULL;
    }
    ssize_t r;
    do { r = write(fd, data, len); } while (r < 0 && errno == EINTR);
    if (r >= 0) { written++; continue; }
    if (errno == EBADF) { throw_errno(env, errno, "write"); return NULL; }
    /* EINVAL (malformed packet or virtio header), EIO (link down), EAGAIN: drop this packet */
  }
  napi_value out;
  CHECK(napi_create_uint32(env, written, &out));
  return out;
}

/* close(fd) */
static napi_value tun_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_arg(env, info, 1, argv, NULL) == NULL) return NULL;
  int32_t fd;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (close(fd) < 0 && errno != EINTR) { throw_errno(env, errno, "close"); return NULL; }
  return NULL;
}

/* ---------------- Reader ---------------- */

typedef struct reader {
  napi_env env;
  int fd;
  uv_poll_t *poll;       /* freed in its close callback */
  napi_ref callback;
  napi_ref self;         /* strong while polling so the reader is not collected */
  napi_async_context async;
  uint8_t *buf;
  size_t buf_bytes;
  uint32_t *lengths;
  uint32_t max_batch;
  int stopped;
} reader_t;

static void poll_closed(uv_handle_t *h) { free(h); }

static void reader_stop(reader_t *r) {
  if (r->stopped) return;
  r->stopped = 1;
  uv_poll_stop(r->poll);
  uv_close((uv_handle_t *)r->poll, poll_closed);
  r->poll = NULL;
  if (r->self != NULL) {
    napi_delete_reference(r->env, r->self);
    r->self = NULL;
  }
}

static void on_readable(uv_poll_t *h, int status, int events) {
  reader_t *r = (reader_t *)h->data;
  napi_env env = r->env;
  if (r->stopped) return;
  uint32_t count = 0;
  size_t used = 0;
  int err = 0;
  if (status < 0) err = -status;
  while (!err && count < r->max_batch && r->buf_bytes - used >= MAX_PACKET) {
    ssize_t n = read(r->fd, r->buf + used, MAX_PACKET);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    if (n == 0) break;
    r->lengths[count++] = (uint32_t)n;
    used += (size_t)n;
  }
  (void)events;
  /* packets first; a lasting error (poll is level-triggered) is seen again on the next round */
  if (count > 0) err = 0;
  if (count == 0 && !err) return;

  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[3], ignored;
  napi_get_reference_value(env, r->callback, &cb);
  napi_get_global(env, &recv);
  if (err) {
    /* A hard read error (the device went away): stop and tell JS once. */
    char msg[128];
    snprintf(msg, sizeof msg, "read failed: %s", strerror(err));
    napi_value code, message;
    napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &argv[0]);
    napi_get_null(env, &argv[1]);
    napi_create_uint32(env, 0, &argv[2]);
    reader_stop(r);
  } else {
    void *data;
    napi_value ab;
    napi_create_buffer_copy(env, used, r->buf, &data, &argv[0]);
    napi_create_arraybuffer(env, count * sizeof(uint32_t), &data, &ab);
    memcpy(data, r->lengths, count * sizeof(uint32_t));
    napi_create_typedarray(env, napi_uint32_array, count, ab, 0, &argv[1]);
    napi_create_uint32(env, count, &argv[2]);
  }
  napi_make_callback(env, r->async, recv, cb, 3, argv, &ignored);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

static void reader_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  reader_t *r = (reader_t *)data;
  reader_stop(r);
  napi_delete_reference(env, r->callback);
  napi_async_destroy(env, r->async);
  free(r->buf);
  free(r->lengths);
  free(r);
}

/* new Reader(fd, onBatch, maxBatch, bufBytes) */
static napi_value reader_new(napi_env env, napi_callback_info info) {
  napi_value argv[4], self;
  if (get_arg(env, info, 4, argv, &self) == NULL) return NULL;
  int32_t fd;
  uint32_t max_batch, buf_bytes;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_uint32(env, argv[2], &max_batch));
  CHECK(napi_get_value_uint32(env, argv[3], &buf_bytes));
  if (max_batch < 1) max_batch = 1;
  if (buf_bytes < MAX_PACKET) buf_bytes = MAX_PACKET;

  reader_t *r = calloc(1, sizeof *r);
  if (r == NULL) { napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
  r->env = env;
  r->fd = fd;
  r->max_batch = max_batch;
  r->buf_bytes = buf_bytes;
  r->buf = malloc(buf_bytes);
  r->lengths = malloc(max_batch * sizeof(uint32_t));
  r->poll = malloc(sizeof(uv_poll_t));
  if (r->buf == NULL || r->lengths == NULL || r->poll == NULL) {
    free(r->buf); free(r->lengths); free(r->poll); free(r);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int rc = uv_poll_init(loop, r->poll, fd);
  if (rc < 0) {
    free(r->buf); free(r->lengths); free(r->poll); free(r);
    throw_errno(env, -rc, "uv_poll_init");
    return NULL;
  }
  r->poll->data = r;
  napi_value resource_name;
  CHECK(napi_create_string_utf8(env, "ctpf:tun", NAPI_AUTO_LENGTH, &resource_name));
  CHECK(napi_async_init(env, self, resource_name, &r->async));
  CHECK(napi_create_reference(env, argv[1], 1, &r->callback));
  CHECK(napi_wrap(env, self, r, reader_finalize, NULL, NULL));
  CHECK(napi_create_reference(env, self, 1, &r->self));
  rc = uv_poll_start(r->poll, UV_READABLE, on_readable);
  if (rc < 0) {
    reader_stop(r);
    throw_errno(env, -rc, "uv_poll_start");
    return NULL;
  }
  return self;
}

static reader_t *unwrap(napi_env env, napi_callback_info info) {
  napi_value self;
  size_t argc = 0;
  if (napi_get_cb_info(env, info, &argc, NULL, &self, NULL) != napi_ok) return NULL;
  void *r = NULL;
  if (napi_unwrap(env, self, &r) != napi_ok) {
    napi_throw_type_error(env, "ERR_TUN_ARGS", "not a Reader");
    return NULL;
  }
  return (reader_t *)r;
}

static napi_value reader_stop_js(napi_env env, napi_callback_info info) {
  reader_t *r = unwrap(env, info);
  if (r != NULL) reader_stop(r);
  return NULL;
}

static napi_value reader_ref_js(napi_env env, napi_callback_info info) {
  reader_t *r = unwrap(env, info);
  if (r != NULL && !r->stopped) uv_ref((uv_handle_t *)r->poll);
  return NULL;
}

static napi_value reader_unref_js(napi_env env, napi_callback_info info) {
  reader_t *r = unwrap(env, info);
  if (r != NULL && !r->stopped) uv_unref((uv_handle_t *)r->poll);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
    { "open", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "write", NULL, tun_write, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, tun_close, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  CHECK(napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns));
  napi_property_descriptor methods[] = {
    { "stop", NULL, reader_stop_js, NULL, NULL, NULL, napi_default, NULL },
    { "ref", NULL, reader_ref_js, NULL, NULL, NULL, napi_default, NULL },
    { "unref", NULL, reader_unref_js, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_value cls;
  CHECK(napi_define_class(env, "Reader", NAPI_AUTO_LENGTH, reader_new, NULL, sizeof methods / sizeof methods[0], methods, &cls));
  CHECK(napi_set_named_property(env, exports, "Reader", cls));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
