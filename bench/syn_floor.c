/* The kernel's floor for half-open TCP checks on loopback, batched the way l4lbd sends them:
 * SYNs from a raw socket, BATCH per sendmmsg, answers read with recvmmsg through a socket filter
 * that passes only segments to our (reserved) source port. No event loop, no bookkeeping: what
 * remains is the kernel's own work for SYN -> SYN-ACK -> RST, both ends of it on loopback.
 *
 *   syn_floor CHECKS BACKENDS BATCH FIRST_ADDRESS PORT
 * Prints one JSON line. Needs CAP_NET_RAW and listeners on BACKENDS consecutive addresses from
 * FIRST_ADDRESS (bench/health_listeners.py; bench/health_floor.py --mode half-open-batched
 * builds and runs this for you). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/times.h>
#include <unistd.h>

static uint16_t checksum(uint32_t src, uint32_t dst, const uint8_t *seg, size_t len) {
  uint32_t sum = 0;
  const uint8_t pseudo[12] = {src >> 24, src >> 16, src >> 8, src, dst >> 24, dst >> 16,
                              dst >> 8, dst, 0, 6, len >> 8, len};
  for (size_t i = 0; i < 12; i += 2) sum += (uint32_t)(pseudo[i] << 8 | pseudo[i + 1]);
  for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)(seg[i] << 8 | seg[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: syn_floor CHECKS BACKENDS BATCH FIRST_ADDRESS PORT\n");
    return 2;
  }
  const long checks = atol(argv[1]), backends = atol(argv[2]), batch = atol(argv[3]);
  struct in_addr first;
  if (checks <= 0 || backends <= 0 || batch <= 0 || inet_pton(AF_INET, argv[4], &first) != 1) {
    fprintf(stderr, "syn_floor: bad arguments\n");
    return 2;
  }
  const uint16_t dport = (uint16_t)atoi(argv[5]);
  const uint32_t src = INADDR_LOOPBACK, base = ntohl(first.s_addr);

  /* A bound, never listening socket reserves the source port: the kernel RSTs the SYN-ACKs. */
  int reserve = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(src)};
  socklen_t len = sizeof me;
  if (reserve < 0 || bind(reserve, (struct sockaddr *)&me, sizeof me) != 0 ||
      getsockname(reserve, (struct sockaddr *)&me, &len) != 0) {
    perror("syn_floor: reserve a port");
    return 1;
  }
  const uint16_t sport = ntohs(me.sin_port);
  int raw = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_TCP);
  if (raw < 0) {
    perror("syn_floor: raw socket");
    return 1;
  }
  struct sock_filter code[] = {
      BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),            /* X = IP header length */
      BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),             /* TCP destination port */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, sport, 0, 1),  /* ours? */
      BPF_STMT(BPF_RET | BPF_K, 80),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_fprog prog = {sizeof code / sizeof code[0], code};
  int buffer = 1 << 22;
  if (setsockopt(raw, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0 ||
      setsockopt(raw, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer) != 0) {
    perror("syn_floor: setsockopt");
    return 1;
  }

  uint8_t (*syn)[20] = calloc((size_t)batch, 20);
  struct sockaddr_in *to = calloc((size_t)batch, sizeof *to);
  struct iovec *iov = calloc((size_t)batch, sizeof *iov);
  struct mmsghdr *out = calloc((size_t)batch, sizeof *out);
  uint8_t (*buf)[80] = calloc((size_t)batch, 80);
  struct iovec *riov = calloc((size_t)batch, sizeof *riov);
  struct mmsghdr *in = calloc((size_t)batch, sizeof *in);
  long synacks = 0, rsts = 0;
  struct tms t0, t1;
  times(&t0);
  for (long done = 0; done < checks; done += batch) {
    const long n = checks - done < batch ? checks - done : batch;
    for (long i = 0; i < n; ++i) {
      const uint32_t dst = base + (uint32_t)((done + i) % backends);
      uint8_t *s = syn[i];
      memset(s, 0, 20);
      s[0] = sport >> 8, s[1] = sport & 0xff, s[2] = dport >> 8, s[3] = dport & 0xff;
      const uint32_t seq = (uint32_t)(done + i);
      s[4] = seq >> 24, s[5] = seq >> 16, s[6] = seq >> 8, s[7] = seq & 0xff;
      s[12] = 5 << 4, s[13] = 0x02, s[14] = 0xff, s[15] = 0xff; /* SYN, window 65535 */
      const uint16_t c = checksum(src, dst, s, 20);
      s[16] = c >> 8, s[17] = c & 0xff;
      to[i] = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(dst)};
      iov[i] = (struct iovec){s, 20};
      out[i].msg_hdr = (struct msghdr){.msg_name = &to[i], .msg_namelen = sizeof to[i],
                                       .msg_iov = &iov[i], .msg_iovlen = 1};
    }
    if (sendmmsg(raw, out, (unsigned)n, 0) != n) {
      perror("syn_floor: sendmmsg");
      return 1;
    }
    for (;;) { /* on loopback the answers are already queued when sendmmsg returns */
      for (long i = 0; i < batch; ++i) {
        riov[i] = (struct iovec){buf[i], 80};
        in[i].msg_hdr = (struct msghdr){.msg_iov = &riov[i], .msg_iovlen = 1};
      }
      const int got = recvmmsg(raw, in, (unsigned)batch, MSG_DONTWAIT, NULL);
      if (got <= 0) break;
      for (int i = 0; i < got; ++i) {
        const uint8_t *p = buf[i];
        const uint8_t flags = p[(p[0] & 15) * 4 + 13];
        if ((flags & 0x12) == 0x12) ++synacks;
        else if (flags & 0x04) ++rsts;
      }
    }
  }
  times(&t1);
  const double hz = (double)sysconf(_SC_CLK_TCK);
  printf("{\"bench\": \"health_floor\", \"mode\": \"half-open-batched\", \"checks\": %ld, "
         "\"batch\": %ld, \"answered\": %ld, \"refused\": %ld, \"sys_us_per_check\": %.1f, "
         "\"user_us_per_check\": %.1f}\n",
         checks, batch, synacks, rsts, (t1.tms_stime - t0.tms_stime) / hz * 1e6 / checks,
         (t1.tms_utime - t0.tms_utime) / hz * 1e6 / checks);
  return 0;
}
