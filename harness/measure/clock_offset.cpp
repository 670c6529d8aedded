#include "measure/clock_offset.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <chrono>
#include <istream>
#include <stdexcept>

namespace harness {

namespace net = boost::asio;

namespace {

std::int64_t wall_us(std::int64_t skew_us) {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() +
           skew_us;
}

// One line of a RESP reply, without its CRLF.
std::string line(net::ip::tcp::socket& s, net::streambuf& b) {
    net::read_until(s, b, "\r\n");
    std::istream in(&b);
    std::string l;
    std::getline(in, l);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    return l;
}

// TIME's reply: *2, then $N seconds and $N microseconds as bulk strings.
std::int64_t read_time(net::ip::tcp::socket& s, net::streambuf& b, const std::string& url) {
    if (line(s, b) != "*2")
        throw std::runtime_error("clock reference " + url + ": TIME did not answer two fields");
    std::int64_t parts[2] = {0, 0};
    for (auto& p : parts) {
        line(s, b);  // $N
        const std::string v = line(s, b);
        if (std::from_chars(v.data(), v.data() + v.size(), p).ec != std::errc{})
            throw std::runtime_error("clock reference " + url + ": TIME answered '" + v + "'");
    }
    return parts[0] * 1000000 + parts[1];
}

}  // namespace

ClockOffset measure_clock_offset(const std::string& url, std::int64_t skew_us, int rounds) {
    const std::string prefix = "redis://";
    const auto colon = url.rfind(':');
    if (!url.starts_with(prefix) || colon == std::string::npos || colon < prefix.size())
        throw std::runtime_error("clock reference must be redis://HOST:PORT, got '" + url + "'");
    const std::string host = url.substr(prefix.size(), colon - prefix.size());
    const std::string port = url.substr(colon + 1);
    try {
        net::io_context ioc;
        net::ip::tcp::socket s(ioc);
        net::connect(s, net::ip::tcp::resolver(ioc).resolve(host, port));
        s.set_option(net::ip::tcp::no_delay(true));
        net::streambuf b;
        const std::string time_cmd = "*1\r\n$4\r\nTIME\r\n";
        return lowest_rtt_offset(
            [&] {
                net::write(s, net::buffer(time_cmd));
                return read_time(s, b, url);
            },
            skew_us, rounds);
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("clock reference " + url + ": " + e.code().message());
    }
}

ClockOffset lowest_rtt_offset(const std::function<std::int64_t()>& ref_time_us,
                              std::int64_t skew_us, int rounds) {
    ClockOffset best;
    double best_rtt = 1e18;
    for (int i = 0; i < rounds; ++i) {
        const std::int64_t t0 = wall_us(skew_us);
        const std::int64_t ref = ref_time_us();
        const std::int64_t t1 = wall_us(skew_us);
        const double rtt = static_cast<double>(t1 - t0);
        if (rtt < best_rtt) {
            best_rtt = rtt;
            best.offset_us = static_cast<double>(t0 + t1) / 2.0 - static_cast<double>(ref);
            best.uncertainty_us = rtt / 2.0 + 1.0;
        }
        best.rounds = i + 1;
    }
    return best;
}

}  // namespace harness
