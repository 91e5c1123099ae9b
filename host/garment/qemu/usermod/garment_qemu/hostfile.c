// hostfile: read a host file into a bytes object over semihosting (ARM bkpt 0xAB,
// RISC-V's ebreak sequence). Only for the emulated boards' tests and benchmarks: a
// real board has no semihosting host (the call would stop at a breakpoint).
#include <string.h>

#include "py/mperrno.h"
#include "py/objstr.h"
#include "py/runtime.h"

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

// hostfile.read(path) -> bytes, the whole file.
static mp_obj_t hostfile_read(mp_obj_t path_in) {
    int32_t fd = open_host(path_in);
    int32_t n = flen(fd);
    if (n < 0) {
        close_host(fd);
        mp_raise_OSError(MP_EISDIR);
    }
    vstr_t vstr;
    vstr_init_len(&vstr, (size_t)n);
    uintptr_t args[3] = { (uintptr_t)fd, (uintptr_t)vstr.buf, (uintptr_t)n };
    int32_t left = semihost(SYS_READ, args);
    close_host(fd);
    if (left != 0) {
        vstr_clear(&vstr);
        mp_raise_OSError(MP_EIO);
    }
    return mp_obj_new_bytes_from_vstr(&vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_1(hostfile_read_obj, hostfile_read);

static const mp_rom_map_elem_t hostfile_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_hostfile) },
    { MP_ROM_QSTR(MP_QSTR_size), MP_ROM_PTR(&hostfile_size_obj) },
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&hostfile_read_obj) },
};
static MP_DEFINE_CONST_DICT(hostfile_globals, hostfile_globals_table);

const mp_obj_module_t hostfile_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&hostfile_globals,
};

MP_REGISTER_MODULE(MP_QSTR_hostfile, hostfile_module);
