/* fsutil.c: crash-safe file writes and directory housekeeping. */
#include "core/vb.h"
#include "core/fsutil.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* VB_ERR_NO_SPACE for a full disk or quota, else VB_ERR_IO. */
static enum vb_err io_error(int e)
{
    return e == ENOSPC || e == EDQUOT ? VB_ERR_NO_SPACE : VB_ERR_IO;
}

enum vb_err vb_mkdir_p(const char *path, unsigned mode)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s", path);
    if (n <= 0 || (size_t)n >= sizeof tmp)
        return VB_ERR_INVALID;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return io_error(errno);
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return io_error(errno);
    struct stat st;
    return stat(tmp, &st) == 0 && S_ISDIR(st.st_mode) ? VB_OK : VB_ERR_IO;
}

static enum vb_err write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w == 0)
            return VB_ERR_IO;
        if (w < 0)
            return io_error(errno);
        p += w;
        len -= (size_t)w;
    }
    return VB_OK;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

enum vb_err vb_file_write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    char tmp_name[VB_NAME_MAX], tmp[4096], dst[4096];
    enum vb_err err = vb_random_file_name(VB_TMP_PREFIX "w", "part", tmp_name);
    if (err)
        return err;
    int n1 = snprintf(tmp, sizeof tmp, "%s/%s", dir, tmp_name);
    int n2 = snprintf(dst, sizeof dst, "%s/%s", dir, name);
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof tmp || (size_t)n2 >= sizeof dst)
        return VB_ERR_INVALID;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return io_error(errno);
    err = write_all(fd, data, len);
    if (!err && fsync(fd) != 0)
        err = io_error(errno);
    if (close(fd) != 0 && !err)
        err = io_error(errno);
    /* link() fails if dst exists, unlike rename(): a generated name never overwrites. */
    if (!err && link(tmp, dst) != 0)
        err = errno == EEXIST ? VB_ERR_CONFLICT : io_error(errno);
    unlink(tmp);
    if (!err)
        fsync_dir(dir);
    return err;
}

enum vb_err vb_file_remove(const char *dir, const char *name)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path)
        return VB_ERR_INVALID;
    if (unlink(path) != 0 && errno != ENOENT)
        return VB_ERR_IO;
    fsync_dir(dir);
    return VB_OK;
}

enum vb_err vb_file_read_all(const char *path, size_t max, char **out, size_t *len)
{
    enum vb_err err = VB_OK;
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? VB_ERR_NOT_FOUND : VB_ERR_IO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err = VB_ERR_IO;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        err = VB_ERR_TOO_LARGE;
        goto out;
    }
    size_t n = (size_t)st.st_size;
    if (!(buf = vb_try_malloc(n + 1))) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            err = VB_ERR_IO;
            goto out;
        }
        got += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
out:
    close(fd);
    vb_free(buf);
    return err;
}

int vb_dir_sweep_temps(const char *dir, int min_age_s)
{
    DIR *d = opendir(dir);
    int removed = 0;
    if (!d)
        return 0;
    struct dirent *e;
    time_t now = time(NULL);
    while ((e = readdir(d))) {
        struct stat st;
        if (vb_file_name_generated(e->d_name, VB_TMP_PREFIX "w") &&
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            now - st.st_mtime >= min_age_s && unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

enum vb_err vb_random_file_name(const char *prefix, const char *ext, char out[VB_NAME_MAX])
{
    uint8_t rnd[12];
    char hex[VB_HEX_LEN(sizeof rnd) + 1];
    enum vb_err err = vb_random_bytes(rnd, sizeof rnd);
    if (err)
        return err;
    vb_hex_encode(rnd, sizeof rnd, hex);
    int n = snprintf(out, VB_NAME_MAX, "%s_%s.%s", prefix, hex, ext);
    return n > 0 && n < VB_NAME_MAX ? VB_OK : VB_ERR_INVALID;
}

bool vb_file_name_generated(const char *name, const char *prefix)
{
    size_t np = strlen(prefix);
    if (strncmp(name, prefix, np) != 0 || name[np] != '_')
        return false;
    const char *p = name + np + 1;
    for (int i = 0; i < VB_RANDOM_HEX_LEN; i++, p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    if (*p++ != '.')
        return false;
    size_t n_ext = strlen(p);
    if (n_ext == 0 || n_ext > VB_EXT_MAX)
        return false;
    for (; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')))
            return false;
    return true;
}

enum vb_err vb_dir_lock(const char *dir, const char *name, int *fd_out, long *holder)
{
    char path[4096], pid[32];
    *fd_out = -1;
    *holder = 0;
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path)
        return VB_ERR_INVALID;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        return io_error(errno);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        enum vb_err err = errno == EWOULDBLOCK ? VB_ERR_CONFLICT : io_error(errno);
        ssize_t got = pread(fd, pid, sizeof pid - 1, 0);
        if (got > 0) {
            pid[got] = '\0';
            *holder = strtol(pid, NULL, 10);
        }
        close(fd);
        return err;
    }
    /* the holder's pid, for the message a second instance prints */
    n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        close(fd);
        return io_error(errno);
    }
    *fd_out = fd;
    return VB_OK;
}

bool vb_file_name_safe(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= VB_NAME_MAX || name[0] == '.' || strstr(name, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}
