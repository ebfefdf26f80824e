using System.Text.Json;
using Headstart.Studio.Security;
using Headstart.Training;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Headstart.Studio.Api;

/// <summary>
/// Every error as a JSON object: a 4xx with the reason for what the request got wrong (a path outside the root, a
/// refused upload, a missing job, a bad plan, a body that is not JSON), a 500 without a stack trace for a bug (whose
/// trace goes to the server's log). Expected errors are not logged as failures.
/// </summary>
public sealed class ErrorResponses(RequestDelegate next, ILogger<ErrorResponses> log)
{
    public async Task InvokeAsync(HttpContext ctx)
    {
        try
        {
            await next(ctx);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away (a page closed its event stream): nothing to answer.
        }
        catch (Exception ex)
        {
            var (status, message) = Classify(ex);
            if (status >= 500) log.LogError(ex, "request {Method} {Path} failed", ctx.Request.Method, ctx.Request.Path);
            if (ctx.Response.HasStarted) return;   // an event stream or a download already under way: it just ends
            ctx.Response.Clear();
            await AccessGuard.Refuse(ctx, status, message);
        }
    }

    public static (int Status, string Message) Classify(Exception ex) => ex switch
    {
        PathRefusedException p => (StatusCodes.Status400BadRequest, p.Message),
        UploadRefusedException u => (StatusCodes.Status400BadRequest, u.Message),
        NotFoundException n => (StatusCodes.Status404NotFound, n.Message),
        TrainingPlanException t => (StatusCodes.Status400BadRequest, t.Message),
        HeadstartException h => (StatusCodes.Status400BadRequest, h.Message),
        InvalidDataException d when d.Message.Contains("body length limit", StringComparison.Ordinal) =>
            (StatusCodes.Status413PayloadTooLarge, "the upload is larger than this server accepts"),
        BadHttpRequestException { InnerException: JsonException j } => (StatusCodes.Status400BadRequest, $"the request body is not valid JSON: {j.Message}"),
        BadHttpRequestException b => (b.StatusCode, b.Message),
        JsonException j => (StatusCodes.Status400BadRequest, $"the request body is not valid JSON: {j.Message}"),
        _ => (StatusCodes.Status500InternalServerError, "internal error, a bug in Headstart (the server log has the details)"),
    };
}
