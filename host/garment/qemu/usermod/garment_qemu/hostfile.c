// hostfile: read-only access to the host's files over semihosting (ARM bkpt 0xAB,
// RISC-V's ebreak sequence). Only for the emulated boards' tests and benchmarks: a
// real board has no semihosting host (the call would stop at a breakpoint).
//
// hostfile.open(path, text) is a buffered stream, so a reader (json.load reads a byte
// at a time) never needs the whole file in one heap block: after many scripts in one
// guest, a fragmented 3 MB heap had no free 557 kB block for the feature golden vectors.
#include <string.h>

#include "py/mperrno.h"
#include "py/objstr.h"
#include "py/runtime.h"
#include "py/stream.h"

#define SYS_OPEN  (0x01)
#define SYS_CLOSE (0x02)
#define SYS_READ  (0x06)
#define SYS_FLEN  (0x0C)
#define MODE_RB   (1)

static int32_t semihost(uint32_t num, const void *arg) {
    #if defined(__arm__)
    register uint32_t r0 __asm__ ("r0") = num;
    register const void *r1 __asm__ ("r1") = arg;
    __asm__ __volatile__ (
        #if defined(__ARM_ARCH_ISA_THUMB) && !defined(__ARM_ARCH_ISA_ARM)
        "bkpt 0xAB\n"
        #else
        "svc 0x00123456\n"
        #endif
        : "+r" (r0) : "r" (r1) : "memory");
    return (int32_t)r0;
    #elif defined(__riscv)
    register uintptr_t a0 __asm__ ("a0") = num;
    register const void *a1 __asm__ ("a1") = arg;
    __asm__ __volatile__ (
        ".option push\n"
        ".option norvc\n"
        ".balign 16\n"
        "slli x0, x0, 0x1f\n"
        "ebreak\n"
        "srai x0, x0, 7\n"
        ".option pop\n"
        : "+r" (a0) : "r" (a1) : "memory");
    return (int32_t)a0;
    #else
    #error "hostfile: no semihosting on this architecture"
    #endif
}

static int32_t open_host(mp_obj_t path_in) {
    size_t len;
    const char *path = mp_obj_str_get_data(path_in, &len);
    uintptr_t args[3] = { (uintptr_t)path, MODE_RB, len };
    int32_t fd = semihost(SYS_OPEN, args);
    if (fd < 0) {
        mp_raise_OSError(MP_ENOENT);
    }
    return fd;
}

static int32_t flen(int32_t fd) {
    uintptr_t args[1] = { (uintptr_t)fd };
    return semihost(SYS_FLEN, args);
}

static void close_host(int32_t fd) {
    uintptr_t args[1] = { (uintptr_t)fd };
    semihost(SYS_CLOSE, args);
}

// hostfile.size(path) -> int, OSError(ENOENT) when the host has no such file.
static mp_obj_t hostfile_size(mp_obj_t path_in) {
    int32_t fd = open_host(path_in);
    int32_t n = flen(fd);
    close_host(fd);
    if (n < 0) {
        mp_raise_OSError(MP_EISDIR);
    }
    return mp_obj_new_int(n);
}
static MP_DEFINE_CONST_FUN_OBJ_1(hostfile_size_obj, hostfile_size);


#define CHUNK (512)

typedef struct _hostfile_obj_t {
    mp_obj_base_t base;
    int32_t fd;     // -1 once closed
    uint16_t pos;   // next unread byte of buf
    uint16_t len;   // bytes held in buf
    uint8_t buf[CHUNK];
} hostfile_obj_t;

// Reads up to n bytes into dst straight from the host; returns how many (0 at the end).
static mp_int_t read_host(int32_t fd, void *dst, mp_uint_t n, int *errcode) {
    uintptr_t args[3] = { (uintptr_t)fd, (uintptr_t)dst, (uintptr_t)n };
    int32_t left = semihost(SYS_READ, args);
    if (left < 0 || (mp_uint_t)left > n) {
        *errcode = MP_EIO;
        return -1;
    }
    return (mp_int_t)(n - (mp_uint_t)left);
}

// Fills the whole request unless the file ends first: MicroPython's own file reader (the
// importer's) takes a short read as the end of the file.
static mp_uint_t hostfile_stream_read(mp_obj_t self_in, void *dst_in, mp_uint_t size, int *errcode) {
    hostfile_obj_t *self = MP_OBJ_TO_PTR(self_in);
    uint8_t *dst = dst_in;
    if (self->fd < 0) {
        *errcode = MP_EBADF;
        return MP_STREAM_ERROR;
    }
    mp_uint_t done = 0;
    while (done < size) {
        if (self->pos == self->len) {
            if (size - done >= CHUNK) {
                // The rest of a large read goes straight into the caller's buffer.
                mp_int_t got = read_host(self->fd, dst + done, size - done, errcode);
                if (got < 0) {
                    return MP_STREAM_ERROR;
                }
                return done + (mp_uint_t)got;
            }
            mp_int_t got = read_host(self->fd, self->buf, CHUNK, errcode);
            if (got < 0) {
                return MP_STREAM_ERROR;
            }
            self->pos = 0;
            self->len = (uint16_t)got;
            if (got == 0) {
                break;  // the end of the file
            }
        }
        mp_uint_t n = self->len - self->pos;
        if (n > size - done) {
            n = size - done;
        }
        memcpy(dst + done, self->buf + self->pos, n);
        self->pos += (uint16_t)n;
        done += n;
    }
    return done;
}

static mp_uint_t hostfile_stream_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    hostfile_obj_t *self = MP_OBJ_TO_PTR(self_in);
    (void)arg;
    if (request == MP_STREAM_CLOSE) {
        if (self->fd >= 0) {
            close_host(self->fd);
            self->fd = -1;
        }
        return 0;
    }
    *errcode = MP_EINVAL;
    return MP_STREAM_ERROR;
}

static const mp_rom_map_elem_t hostfile_file_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&mp_stream_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_readinto), MP_ROM_PTR(&mp_stream_readinto_obj) },
    { MP_ROM_QSTR(MP_QSTR_readline), MP_ROM_PTR(&mp_stream_unbuffered_readline_obj) },
    { MP_ROM_QSTR(MP_QSTR_readlines), MP_ROM_PTR(&mp_stream_unbuffered_readlines_obj) },
    { MP_ROM_QSTR(MP_QSTR_close), MP_ROM_PTR(&mp_stream_close_obj) },
    { MP_ROM_QSTR(MP_QSTR___del__), MP_ROM_PTR(&mp_stream_close_obj) },
    { MP_ROM_QSTR(MP_QSTR___enter__), MP_ROM_PTR(&mp_identity_obj) },
    { MP_ROM_QSTR(MP_QSTR___exit__), MP_ROM_PTR(&mp_stream___exit___obj) },
};
static MP_DEFINE_CONST_DICT(hostfile_file_locals_dict, hostfile_file_locals_dict_table);

static const mp_stream_p_t hostfile_fileio_stream_p = {
    .read = hostfile_stream_read,
    .ioctl = hostfile_stream_ioctl,
};

static const mp_stream_p_t hostfile_textio_stream_p = {
    .read = hostfile_stream_read,
    .ioctl = hostfile_stream_ioctl,
    .is_text = true,
};

static MP_DEFINE_CONST_OBJ_TYPE(
    hostfile_type_fileio,
    MP_QSTR_FileIO,
    MP_TYPE_FLAG_ITER_IS_STREAM,
    protocol, &hostfile_fileio_stream_p,
    locals_dict, &hostfile_file_locals_dict
    );

static MP_DEFINE_CONST_OBJ_TYPE(
    hostfile_type_textio,
    MP_QSTR_TextIOWrapper,
    MP_TYPE_FLAG_ITER_IS_STREAM,
    protocol, &hostfile_textio_stream_p,
    locals_dict, &hostfile_file_locals_dict
    );

// hostfile.open(path, text) -> a read-only stream (str reads when text is true).
static mp_obj_t hostfile_open(mp_obj_t path_in, mp_obj_t text_in) {
    int32_t fd = open_host(path_in);
    int32_t n = flen(fd);
    if (n < 0) {
        close_host(fd);
        mp_raise_OSError(MP_EISDIR);
    }
    const mp_obj_type_t *type = mp_obj_is_true(text_in) ? &hostfile_type_textio : &hostfile_type_fileio;
    hostfile_obj_t *self = mp_obj_malloc_with_finaliser(hostfile_obj_t, type);
    self->fd = fd;
    self->pos = 0;
    self->len = 0;
    return MP_OBJ_FROM_PTR(self);
}
static MP_DEFINE_CONST_FUN_OBJ_2(hostfile_open_obj, hostfile_open);

static const mp_rom_map_elem_t hostfile_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_open), MP_ROM_PTR(&hostfile_open_obj) },
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_hostfile) },
    { MP_ROM_QSTR(MP_QSTR_size), MP_ROM_PTR(&hostfile_size_obj) },
};
static MP_DEFINE_CONST_DICT(hostfile_globals, hostfile_globals_table);

const mp_obj_module_t hostfile_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&hostfile_globals,
};

MP_REGISTER_MODULE(MP_QSTR_hostfile, hostfile_module);
