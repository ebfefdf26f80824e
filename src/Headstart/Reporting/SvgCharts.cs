using System.Globalization;
using System.Text;

namespace Headstart.Reporting;

/// <summary>One line of a <see cref="SvgCharts.Line"/> chart: points (x, y), skipping non-finite y; optional error
/// bars (x, low, high) drawn as vertical whiskers.</summary>
public sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points, bool Dashed = false, string? Color = null,
    IReadOnlyList<(double X, double Lo, double Hi)>? ErrorBars = null);

/// <summary>
/// Inline SVG charts for the reports: line charts (training curves, data-efficiency), a confusion-matrix heatmap and
/// horizontal bars. Plain SVG with escaped labels: no script, no fonts, no network.
/// </summary>
public static class SvgCharts
{
    /// <summary>A colour-blind-safe palette (Okabe-Ito).</summary>
    public static IReadOnlyList<string> Palette { get; } = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>A line chart with axes, ticks, markers and a legend. <paramref name="logX"/> uses a log2 x axis
    /// (for data-efficiency curves over shot counts).</summary>
    public static string Line(string id, string title, string xLabel, string yLabel, IReadOnlyList<Series> series,
        double? yMin = null, double? yMax = null, bool logX = false, bool percentY = false, int width = 560, int height = 320)
    {
        const int left = 58, right = 16, top = 30, bottom = 46;
        var pts = series.SelectMany(s => s.Points.Concat((s.ErrorBars ?? []).SelectMany(e => new[] { (X: e.X, Y: e.Lo), (X: e.X, Y: e.Hi) })))
            .Where(p => double.IsFinite(p.Y) && double.IsFinite(p.X) && (!logX || p.X > 0)).ToList();
        var sb = new StringBuilder();
        const int perRow = 2;
        int legendRows = (series.Count + perRow - 1) / perRow;
        int h = height + legendRows * 18;
        sb.Append($"<svg id=\"{Html.Text(id)}\" class=\"chart\" role=\"img\" viewBox=\"0 0 {width} {h}\" width=\"{width}\" height=\"{h}\" xmlns=\"http://www.w3.org/2000/svg\">");
        sb.Append($"<title>{Html.Text(title)}</title>");
        sb.Append($"<text x=\"{left}\" y=\"18\" font-size=\"14\" font-weight=\"600\">{Html.Text(title)}</text>");
        if (pts.Count == 0)
        {
            sb.Append($"<text x=\"{width / 2}\" y=\"{height / 2}\" text-anchor=\"middle\" font-size=\"13\" fill=\"#5b6475\">no data</text></svg>");
            return sb.ToString();
        }
        double Tx(double x) => logX ? Math.Log2(x) : x;
        double x0 = pts.Min(p => Tx(p.X)), x1 = pts.Max(p => Tx(p.X));
        if (x1 - x0 < 1e-9) { x0 -= 1; x1 += 1; }
        // Shot counts: a margin so that the end points and their whiskers sit inside the frame.
        if (logX) { double pad = (x1 - x0) * 0.06; x0 -= pad; x1 += pad; }
        double y0 = yMin ?? pts.Min(p => p.Y), y1 = yMax ?? pts.Max(p => p.Y);
        if (yMin is null && yMax is null) { double pad = (y1 - y0) * 0.08; y0 -= pad; y1 += pad; }
        if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
        if (yMin is null && y0 < 0 && pts.All(p => p.Y >= 0)) y0 = 0;
        int pw = width - left - right, ph = height - top - bottom;
        double Px(double x) => left + (Tx(x) - x0) / (x1 - x0) * pw;
        double Py(double y) => top + ph - (y - y0) / (y1 - y0) * ph;

        // Grid and y ticks.
        sb.Append("<g font-size=\"11\" fill=\"#5b6475\">");
        foreach (double t in Ticks(y0, y1, 5))
        {
            double y = Py(t);
            sb.Append($"<line x1=\"{left}\" x2=\"{left + pw}\" y1=\"{F(y)}\" y2=\"{F(y)}\" stroke=\"#e6e9ee\"/>");
            string label = percentY ? Html.Num(t * 100, "0.#") + "%" : Html.Num(t, "0.###");
            sb.Append($"<text x=\"{left - 6}\" y=\"{F(y + 4)}\" text-anchor=\"end\">{label}</text>");
        }
        // x ticks: the data's own x values when few (epochs, shot counts), else round numbers.
        var xs = pts.Select(p => p.X).Distinct().Order().ToList();
        IEnumerable<double> xticks = logX || xs.Count <= 12 ? xs : Ticks(x0, x1, 8).Select(t => t);
        foreach (double t in xticks)
        {
            double x = Px(t);
            sb.Append($"<line x1=\"{F(x)}\" x2=\"{F(x)}\" y1=\"{top + ph}\" y2=\"{top + ph + 4}\" stroke=\"#5b6475\"/>");
            sb.Append($"<text x=\"{F(x)}\" y=\"{top + ph + 16}\" text-anchor=\"middle\">{Html.Num(t, "0.##")}</text>");
        }
        sb.Append("</g>");
        sb.Append($"<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#aab1bd\"/>");
        sb.Append($"<text x=\"{left + pw / 2}\" y=\"{top + ph + 34}\" text-anchor=\"middle\" font-size=\"12\">{Html.Text(xLabel)}</text>");
        sb.Append($"<text transform=\"translate(14 {top + ph / 2}) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">{Html.Text(yLabel)}</text>");

        for (int i = 0; i < series.Count; i++)
        {
            var s = series[i];
            string color = s.Color ?? Palette[i % Palette.Count];
            var good = s.Points.Where(p => double.IsFinite(p.Y) && (!logX || p.X > 0)).OrderBy(p => p.X).ToList();
            string cls = $"series series-{i}";
            if (good.Count > 1)
            {
                string path = string.Join(" ", good.Select((p, k) => $"{(k == 0 ? 'M' : 'L')}{F(Px(p.X))},{F(Py(p.Y))}"));
                sb.Append($"<path class=\"{cls}\" d=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{(s.Dashed ? " stroke-dasharray=\"6 4\"" : "")}><title>{Html.Text(s.Name)}</title></path>");
            }
            // Whiskers of different series at one x are dodged a few pixels apart, so they don't hide each other.
            double dodge = (i - (series.Count - 1) / 2.0) * 5;
            foreach (var (x, lo, hi) in s.ErrorBars ?? [])
            {
                if (!double.IsFinite(lo) || !double.IsFinite(hi) || (logX && x <= 0)) continue;
                double px = Px(x) + dodge, ylo = Py(Math.Max(lo, y0)), yhi = Py(Math.Min(hi, y1));
                sb.Append($"<path class=\"error-bar\" d=\"M{F(px)},{F(ylo)} L{F(px)},{F(yhi)} M{F(px - 4)},{F(ylo)} L{F(px + 4)},{F(ylo)} M{F(px - 4)},{F(yhi)} L{F(px + 4)},{F(yhi)}\" " +
                          $"stroke=\"{color}\" stroke-width=\"1.5\" fill=\"none\"><title>{Html.Text(s.Name)}: {Html.Num(x, "0.##")}, 95% interval " +
                          $"{(percentY ? Html.Percent(lo) + " to " + Html.Percent(hi) : Html.Num(lo, "0.####") + " to " + Html.Num(hi, "0.####"))}</title></path>");
            }
            // Markers only where they stay readable (e.g. shot counts, short runs), not on 150-epoch curves.
            foreach (var p in good.Count <= 40 ? good : [])
                sb.Append($"<circle cx=\"{F(Px(p.X))}\" cy=\"{F(Py(p.Y))}\" r=\"3\" fill=\"{color}\"><title>{Html.Text(s.Name)}: {Html.Num(p.X, "0.##")}, {(percentY ? Html.Percent(p.Y) : Html.Num(p.Y, "0.####"))}</title></circle>");
            // Legend under the plot.
            int lx = left + i % perRow * (pw / perRow), ly = height + 4 + i / perRow * 18;
            sb.Append($"<line x1=\"{lx}\" x2=\"{lx + 22}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"{(s.Dashed ? " stroke-dasharray=\"6 4\"" : "")}/>");
            sb.Append($"<text x=\"{lx + 28}\" y=\"{ly + 4}\" font-size=\"12\">{Html.Text(Shorten(s.Name, 40))}</text>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>
    /// The confusion matrix as a heatmap: rows = actual, columns = predicted; colour = the row-normalised rate (so small
    /// classes read as clearly as large ones), text = the count. Diagonal cells are blue, errors red.
    /// </summary>
    public static string ConfusionMatrix(string id, IReadOnlyList<string> classes, int[][] cm)
    {
        int k = classes.Count;
        int cell = k <= 10 ? 44 : k <= 20 ? 30 : Math.Max(12, 600 / k);
        bool showText = cell >= 24;
        int labelW = Math.Min(170, 14 + classes.Max(c => Math.Min(c.Length, 24)) * 7);
        int left = labelW + 22, top = labelW + 22;
        // Column labels are rotated -60°: they lean right by about half their length.
        int w = left + k * cell + labelW / 2 + 10, h = top + k * cell + 10;
        var sb = new StringBuilder();
        sb.Append($"<svg id=\"{Html.Text(id)}\" class=\"confusion\" role=\"img\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" xmlns=\"http://www.w3.org/2000/svg\">");
        sb.Append("<title>Confusion matrix (rows: actual, columns: predicted)</title>");
        sb.Append($"<text x=\"{left + k * cell / 2}\" y=\"12\" text-anchor=\"middle\" font-size=\"12\" font-weight=\"600\">predicted</text>");
        sb.Append($"<text transform=\"translate(12 {top + k * cell / 2}) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\" font-weight=\"600\">actual</text>");
        for (int i = 0; i < k; i++)
        {
            string name = Html.Text(Shorten(classes[i], 24));
            sb.Append($"<text x=\"{left - 6}\" y=\"{top + i * cell + cell / 2 + 4}\" text-anchor=\"end\" font-size=\"12\">{name}<title>{Html.Text(classes[i])}</title></text>");
            int cx = left + i * cell + cell / 2 + 4;
            sb.Append($"<text transform=\"translate({cx} {top - 6}) rotate(-60)\" font-size=\"12\">{name}<title>{Html.Text(classes[i])}</title></text>");
        }
        for (int i = 0; i < k; i++)
        {
            int rowSum = Math.Max(1, cm[i].Sum());
            for (int j = 0; j < k; j++)
            {
                int n = cm[i][j];
                double rate = n / (double)rowSum;
                string fill = n == 0 ? "#f7f8fa" : Blend(i == j ? (47, 111, 223) : (196, 55, 45), 0.12 + 0.88 * rate);
                sb.Append($"<rect class=\"cell\" x=\"{left + j * cell}\" y=\"{top + i * cell}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\" stroke=\"#ffffff\">");
                sb.Append($"<title>actual {Html.Text(classes[i])}, predicted {Html.Text(classes[j])}: {n} ({Html.Percent(rate)} of the row)</title></rect>");
                if (showText && n > 0)
                    sb.Append($"<text x=\"{left + j * cell + cell / 2}\" y=\"{top + i * cell + cell / 2 + 4}\" text-anchor=\"middle\" font-size=\"12\" style=\"fill:{(rate > 0.5 ? "#fff" : "#1d2330")}\">{n}</text>");
            }
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>Horizontal bars, one row per label, optionally two values (e.g. train and val counts) stacked.</summary>
    public static string Bars(string id, string title, IReadOnlyList<(string Label, double A, double B)> rows, string aName, string? bName)
    {
        int labelW = Math.Min(200, 16 + rows.Select(r => Math.Min(r.Label.Length, 28)).DefaultIfEmpty(4).Max() * 7);
        const int barW = 360, rowH = 20, top = 30;
        int w = labelW + barW + 70, h = top + rows.Count * rowH + 28;
        double max = Math.Max(1e-9, rows.Select(r => r.A + r.B).DefaultIfEmpty(1).Max());
        var sb = new StringBuilder();
        sb.Append($"<svg id=\"{Html.Text(id)}\" class=\"bars\" role=\"img\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" xmlns=\"http://www.w3.org/2000/svg\">");
        sb.Append($"<title>{Html.Text(title)}</title><text x=\"0\" y=\"16\" font-size=\"14\" font-weight=\"600\">{Html.Text(title)}</text>");
        for (int i = 0; i < rows.Count; i++)
        {
            var (label, a, b) = rows[i];
            int y = top + i * rowH;
            double wa = a / max * barW, wb = b / max * barW;
            sb.Append($"<text x=\"{labelW - 6}\" y=\"{y + 14}\" text-anchor=\"end\" font-size=\"12\">{Html.Text(Shorten(label, 28))}<title>{Html.Text(label)}</title></text>");
            sb.Append($"<rect x=\"{labelW}\" y=\"{y + 3}\" width=\"{F(wa)}\" height=\"{rowH - 6}\" fill=\"{Palette[0]}\"><title>{Html.Text(label)}: {Html.Num(a)} {Html.Text(aName)}</title></rect>");
            if (bName is not null)
                sb.Append($"<rect x=\"{F(labelW + wa)}\" y=\"{y + 3}\" width=\"{F(wb)}\" height=\"{rowH - 6}\" fill=\"{Palette[5]}\"><title>{Html.Text(label)}: {Html.Num(b)} {Html.Text(bName)}</title></rect>");
            string total = bName is null ? Html.Num(a) : $"{Html.Num(a)} + {Html.Num(b)}";
            sb.Append($"<text x=\"{F(labelW + wa + wb + 6)}\" y=\"{y + 14}\" font-size=\"11\" fill=\"#5b6475\">{total}</text>");
        }
        int ly = top + rows.Count * rowH + 16;
        sb.Append($"<rect x=\"{labelW}\" y=\"{ly - 9}\" width=\"12\" height=\"10\" fill=\"{Palette[0]}\"/><text x=\"{labelW + 16}\" y=\"{ly}\" font-size=\"12\">{Html.Text(aName)}</text>");
        if (bName is not null)
            sb.Append($"<rect x=\"{labelW + 90}\" y=\"{ly - 9}\" width=\"12\" height=\"10\" fill=\"{Palette[5]}\"/><text x=\"{labelW + 106}\" y=\"{ly}\" font-size=\"12\">{Html.Text(bName)}</text>");
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>About <paramref name="count"/> round tick values covering [lo, hi].</summary>
    public static IReadOnlyList<double> Ticks(double lo, double hi, int count)
    {
        double span = hi - lo;
        if (!(span > 0) || !double.IsFinite(span)) return [lo];
        double raw = span / Math.Max(1, count);
        double mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1, 2, 2.5, 5, 10 }.Select(m => m * mag).First(s => s >= raw);
        var ticks = new List<double>();
        for (double t = Math.Ceiling(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.Add(Math.Round(t, 10));
        return ticks;
    }

    private static string Blend((int R, int G, int B) c, double a)
    {
        a = Math.Clamp(a, 0, 1);
        int Mix(int v) => (int)Math.Round(255 + (v - 255) * a);
        return $"#{Mix(c.R):x2}{Mix(c.G):x2}{Mix(c.B):x2}";
    }

    private static string Shorten(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";
}
