/* capture.h: runs a sub-command's function as the binary would, its stdout captured (and its
 * stderr too, or dropped), for the tests of src/cli. */
#ifndef VB_TEST_CLI_CAPTURE_H
#define VB_TEST_CLI_CAPTURE_H

#include "unit/refdata.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* Runs fn(argc, argv) with stdout sent to a file and stderr to the same file (with_stderr) or
 * to /dev/null; returns fn's status and the text written in *out (caller frees; "" if
 * nothing). */
static int capture(int (*fn)(int, char **), int argc, char **argv, bool with_stderr, char **out)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/vocero-test-cli-%d.txt", (int)getpid());
    fflush(stdout);
    fflush(stderr);
    int saved = dup(1), saved_err = dup(2);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    int err_fd = with_stderr ? dup(fd) : open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    dup2(err_fd, 2);
    int rc = fn(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved, 1);
    dup2(saved_err, 2);
    close(saved);
    close(saved_err);
    close(fd);
    close(err_fd);
    size_t len;
    *out = refdata_read(path, &len);
    unlink(path);
    return rc;
}

#endif
