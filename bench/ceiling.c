/*
 * bench/ceiling.c: the fastest HTTP/1.1 "server" this machine can run, as a ceiling for the
 * benchmarks. One thread, one epoll loop, level-triggered; every request gets the same fixed
 * 200 response with a 1 KiB body, built once at startup. No file I/O, no parsing beyond finding
 * the end of the head ("\r\n\r\n") and whether it says "Connection: close".
 *
 *     gcc -O2 -o ceiling bench/ceiling.c && ./ceiling 127.0.0.1 PORT
 *
 * It prints "listening on http://ADDR:PORT" on stderr once it accepts. Pipelined requests are
 * answered in order. A request head over 8 KiB, or a peer that does not read its responses
 * (a short write), closes the connection: a ceiling, not a server.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 8192
#define MAX_FDS 65536

struct conn {
    size_t len;
    char buf[BUF];
};

static struct conn *conns[MAX_FDS];
static char response[2048], response_close[2048];
static size_t response_len, response_close_len;

static void build_responses(void) {
    char body[1024];
    for (size_t i = 0; i < sizeof body; i++) body[i] = 'a' + (char)(i % 26);
    body[sizeof body - 1] = '\n';
    const char *head = "HTTP/1.1 200 OK\r\nServer: ceiling\r\nContent-Type: text/html\r\n"
                       "Content-Length: 1024\r\n";
    response_len = (size_t)snprintf(response, sizeof response, "%s\r\n", head);
    memcpy(response + response_len, body, sizeof body);
    response_len += sizeof body;
    response_close_len =
        (size_t)snprintf(response_close, sizeof response_close, "%sConnection: close\r\n\r\n", head);
    memcpy(response_close + response_close_len, body, sizeof body);
    response_close_len += sizeof body;
}

static void drop(int epfd, int fd) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(conns[fd]);
    conns[fd] = NULL;
}

/* Answers every complete head in c->buf; returns 0 to keep the connection, -1 to close it. */
static int serve(int fd, struct conn *c) {
    char *start = c->buf;
    size_t left = c->len;
    char *end;
    while ((end = memmem(start, left, "\r\n\r\n", 4)) != NULL) {
        size_t head = (size_t)(end - start) + 4;
        int close_it = memmem(start, head, "Connection: close", 17) != NULL ||
                       memmem(start, head, "connection: close", 17) != NULL;
        const char *r = close_it ? response_close : response;
        size_t n = close_it ? response_close_len : response_len;
        if (write(fd, r, n) != (ssize_t)n) return -1;
        if (close_it) return -1;
        start += head;
        left -= head;
    }
    memmove(c->buf, start, left);
    c->len = left;
    return c->len == BUF ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ADDR PORT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    build_responses();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 ||
        bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 4096) != 0) {
        perror("ceiling: bind/listen");
        return 1;
    }
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    fprintf(stderr, "listening on http://%s:%s\n", argv[1], argv[2]);

    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epfd, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("ceiling: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                for (int k = 0; k < 64; k++) {
                    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd < 0) break;
                    if (cfd >= MAX_FDS || (conns[cfd] = calloc(1, sizeof(struct conn))) == NULL) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = cfd};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            struct conn *c = conns[fd];
            if (c == NULL) continue;
            ssize_t got = read(fd, c->buf + c->len, BUF - c->len);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                drop(epfd, fd);
                continue;
            }
            c->len += (size_t)got;
            if (serve(fd, c) != 0) drop(epfd, fd);
        }
    }
}
