// strftime for strftime_now: Python's datetime.strftime on Linux (glibc's conversions in the C
// locale, plus Python's %f), over an injected civil time so renders are deterministic in tests.
#include <cstdio>
#include <string>

#include "server/template/interpreter.h"

namespace suanli::jinja {
namespace {

const char* const kDays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                             "Thursday", "Friday", "Saturday"};
const char* const kMonths[] = {"January",   "February", "March",    "April",
                               "May",       "June",     "July",     "August",
                               "September", "October",  "November", "December"};

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DayOfYear(const CivilTime& t) {  // 0-based
  static const int kCum[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  int m = t.month >= 1 && t.month <= 12 ? t.month : 1;
  return kCum[m - 1] + t.day - 1 + (m > 2 && IsLeap(t.year) ? 1 : 0);
}

int Weekday(const CivilTime& t) {  // 0 = Sunday
  // Days from civil (Howard Hinnant's algorithm), 1970-01-01 was a Thursday.
  int y = t.year - (t.month <= 2 ? 1 : 0);
  int era = (y >= 0 ? y : y - 399) / 400;
  int yoe = y - era * 400;
  int mp = (t.month + 9) % 12;
  int doy = (153 * mp + 2) / 5 + t.day - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  long days = static_cast<long>(era) * 146097 + doe - 719468;
  long wd = (days + 4) % 7;
  if (wd < 0) wd += 7;
  return static_cast<int>(wd);
}

// ISO 8601 week-based year and week number.
void IsoWeek(const CivilTime& t, int* iso_year, int* iso_week) {
  int yday = DayOfYear(t);
  int wday = (Weekday(t) + 6) % 7;  // Monday = 0
  int week = (yday - wday + 10) / 7;
  int year = t.year;
  if (week < 1) {
    --year;
    CivilTime last{year, 12, 31};
    int ly = DayOfYear(last), lw = (Weekday(last) + 6) % 7;
    week = (ly - lw + 10) / 7;
  } else {
    int days_in_year = IsLeap(year) ? 366 : 365;
    if (yday - wday + 3 >= days_in_year) {  // Thursday of this week is in next year
      week = 1;
      ++year;
    }
  }
  *iso_year = year;
  *iso_week = week;
}

void Num(std::string* out, long v, int width, char pad, char flag) {
  if (flag == '-') {
    *out += std::to_string(v);
    return;
  }
  if (flag == '_') pad = ' ';
  if (flag == '0') pad = '0';
  std::string s = std::to_string(v < 0 ? -v : v);
  if (v < 0) out->push_back('-');
  for (int i = static_cast<int>(s.size()); i < width; ++i) out->push_back(pad);
  *out += s;
}

std::string Upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  }
  return s;
}

}  // namespace

std::string Strftime(const CivilTime& t, std::string_view fmt) {
  std::string out;
  int wday = Weekday(t);
  int yday = DayOfYear(t);
  int mon = (t.month >= 1 && t.month <= 12) ? t.month - 1 : 0;
  int hour12 = t.hour % 12 == 0 ? 12 : t.hour % 12;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c != '%' || i + 1 >= fmt.size()) {
      out.push_back(c);
      continue;
    }
    size_t start = i;
    char flag = 0;
    char n = fmt[++i];
    if ((n == '-' || n == '_' || n == '0' || n == '^' || n == '#') && i + 1 < fmt.size()) {
      flag = n;
      n = fmt[++i];
    }
    std::string piece;
    switch (n) {
      case 'a':
        piece = std::string(kDays[wday]).substr(0, 3);
        break;
      case 'A':
        piece = kDays[wday];
        break;
      case 'b':
      case 'h':
        piece = std::string(kMonths[mon]).substr(0, 3);
        break;
      case 'B':
        piece = kMonths[mon];
        break;
      case 'c': {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.3s %.3s %2d %02d:%02d:%02d %d", kDays[wday],
                      kMonths[mon], t.day, t.hour, t.minute, t.second, t.year);
        piece = buf;
        break;
      }
      case 'C':
        Num(&piece, t.year / 100, 2, '0', flag);
        break;
      case 'd':
        Num(&piece, t.day, 2, '0', flag);
        break;
      case 'D': {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%02d/%02d/%02d", t.month, t.day, t.year % 100);
        piece = buf;
        break;
      }
      case 'e':
        Num(&piece, t.day, 2, ' ', flag);
        break;
      case 'f':
        Num(&piece, t.microsecond, 6, '0', flag);
        break;
      case 'F': {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%d-%02d-%02d", t.year, t.month, t.day);
        piece = buf;
        break;
      }
      case 'G':
      case 'g':
      case 'V': {
        int iy, iw;
        IsoWeek(t, &iy, &iw);
        if (n == 'G') {
          Num(&piece, iy, 1, '0', flag);
        } else if (n == 'g') {
          Num(&piece, iy % 100, 2, '0', flag);
        } else {
          Num(&piece, iw, 2, '0', flag);
        }
        break;
      }
      case 'H':
        Num(&piece, t.hour, 2, '0', flag);
        break;
      case 'I':
        Num(&piece, hour12, 2, '0', flag);
        break;
      case 'j':
        Num(&piece, yday + 1, 3, '0', flag);
        break;
      case 'k':
        Num(&piece, t.hour, 2, ' ', flag);
        break;
      case 'l':
        Num(&piece, hour12, 2, ' ', flag);
        break;
      case 'm':
        Num(&piece, t.month, 2, '0', flag);
        break;
      case 'M':
        Num(&piece, t.minute, 2, '0', flag);
        break;
      case 'n':
        piece = "\n";
        break;
      case 'p':
        piece = t.hour < 12 ? "AM" : "PM";
        break;
      case 'P':
        piece = t.hour < 12 ? "am" : "pm";
        break;
      case 'r': {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d %s", hour12, t.minute, t.second,
                      t.hour < 12 ? "AM" : "PM");
        piece = buf;
        break;
      }
      case 'R': {
        char buf[16];
        std::snprintf(buf, sizeof(buf), "%02d:%02d", t.hour, t.minute);
        piece = buf;
        break;
      }
      case 'S':
        Num(&piece, t.second, 2, '0', flag);
        break;
      case 't':
        piece = "\t";
        break;
      case 'T':
      case 'X': {
        char buf[16];
        std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d", t.hour, t.minute, t.second);
        piece = buf;
        break;
      }
      case 'u':
        Num(&piece, wday == 0 ? 7 : wday, 1, '0', flag);
        break;
      case 'U':
        Num(&piece, (yday + 7 - wday) / 7, 2, '0', flag);
        break;
      case 'w':
        Num(&piece, wday, 1, '0', flag);
        break;
      case 'W':
        Num(&piece, (yday + 7 - (wday + 6) % 7) / 7, 2, '0', flag);
        break;
      case 'x': {
        char buf[16];
        std::snprintf(buf, sizeof(buf), "%02d/%02d/%02d", t.month, t.day, t.year % 100);
        piece = buf;
        break;
      }
      case 'y':
        Num(&piece, t.year % 100, 2, '0', flag);
        break;
      case 'Y':
        Num(&piece, t.year, 1, '0', flag);
        break;
      case 'z':
      case 'Z':
        break;  // naive datetime: empty
      case '%':
        piece = "%";
        break;
      default:
        piece = std::string(fmt.substr(start, i - start + 1));  // unknown: kept as written
    }
    if (flag == '^') piece = Upper(piece);
    out += piece;
  }
  return out;
}

}  // namespace suanli::jinja
